"""``python -m orchestrator`` is ``avo``."""

import sys

from orchestrator.cli import main

sys.exit(main())
