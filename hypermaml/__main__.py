"""``python -m hypermaml train|evaluate``: the same command as ``hypermaml`` (``hypermaml.cli``)."""

import sys

from .cli import main

sys.exit(main())
