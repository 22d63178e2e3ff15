"""``python -m tiny_models``: see tiny_models/cli.py."""

from __future__ import annotations

import sys

from tiny_models.cli import main

sys.exit(main())
