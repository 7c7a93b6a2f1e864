"""Entry script of the PyInstaller bundle: the same `main` as the `ldm-studio` command."""

from ldm_studio.cli import main

raise SystemExit(main())
