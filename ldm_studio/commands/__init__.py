"""The `ldm-studio` subcommands, one module each."""

from ldm_studio.commands import batch, convert, generate, gui, models

COMMANDS = (generate, batch, convert, gui, models)
