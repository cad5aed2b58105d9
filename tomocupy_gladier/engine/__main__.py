"""``python -m tomocupy_gladier.engine`` = ``tomocupy-cpu``."""

import sys

from .cli import main

sys.exit(main())
