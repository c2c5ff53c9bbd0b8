"""``python -m queue_emulator``: the same as the ``queue-emulator`` console script."""

import sys

from .cli import main

sys.exit(main())
