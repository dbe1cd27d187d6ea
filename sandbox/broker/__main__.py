"""``python -m sandbox.broker`` is ``avo-sandboxd``."""

from .command_line import main

raise SystemExit(main())
