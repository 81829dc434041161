"""``python -m crm_emulator`` runs the same command line as the ``crm-emulator`` script."""

from crm_emulator.cli import main

raise SystemExit(main())
