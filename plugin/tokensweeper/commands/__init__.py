"""The `tokensweeper` command's parts, split the way borgmatic splits its commands.

arguments.py parses the command line, output.py prints tables and JSON, status.py
holds the exit statuses, context.py what the commands share, and actions/ one module
per command; tokensweeper.cli.main (bin/tokensweeper's entry) dispatches to them.
"""
