"""The `ldm-studio` subcommands, one module each."""

from ldm_studio.commands import generate, gui

COMMANDS = (generate, gui)
