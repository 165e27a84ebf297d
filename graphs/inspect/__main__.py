"""``python -m graphs.inspect``."""

from .cli import main

raise SystemExit(main())
