"""The `ldm-studio` subcommands, one module each."""

from ldm_studio.commands import batch, convert, eval_demo, fit_preview, generate, gui, models, train_demo

COMMANDS = (generate, batch, convert, gui, train_demo, models, fit_preview, eval_demo)
