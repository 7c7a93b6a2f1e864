"""`python -m ldm_studio` starts the same entry point as the `ldm-studio` command."""

from ldm_studio.cli import main

raise SystemExit(main())
