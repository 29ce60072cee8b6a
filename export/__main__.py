"""`python -m export ...`: the same as `alphanet export ...`."""

import sys

from export.cli import main

sys.exit(main())
