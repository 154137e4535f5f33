"""Fakes of cPanel tools: the whmapi1 emulator and its Python API."""
