"""`python -m alerting.app ...` is the `alerting` command (the worker child is started this way)."""

from alerting.app.main import main

raise SystemExit(main())
