"""``python -m dualbranch.cli``: the ``dualbranch`` command."""

from . import main

raise SystemExit(main())
