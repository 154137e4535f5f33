#!/usr/bin/env python3
# SPDX-FileCopyrightText: Token Sweeper contributors
# SPDX-License-Identifier: MIT
import os
import sys

LIB_DIR = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, LIB_DIR)

from tokensweeper.web import main  # noqa: E402

sys.exit(main())
