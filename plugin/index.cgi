#!/usr/bin/env python3
# SPDX-FileCopyrightText: Token Sweeper contributors
# SPDX-License-Identifier: MIT
import gc
import os
import sys

# A page lives for one request. The overview of 5,000 tokens holds millions of objects,
# and each full collection walks them all (~50 ms, one per first visit) to find almost
# nothing: only the young generations are collected.
gc.set_threshold(700, 10, 1000000)

LIB_DIR = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, LIB_DIR)

from tokensweeper.web import main  # noqa: E402

status = main()
# The answer is written: end without the interpreter's teardown, which frees every one of
# those objects (~0.1 s after a first visit) for a process that is about to vanish.
try:
    sys.stdout.flush()
    sys.stderr.flush()
except (OSError, ValueError):
    sys.exit(status)
os._exit(status)
