"""``python -m imagegate.cli``: the ``imagegate`` command."""

from . import main

raise SystemExit(main())
