"""The `ccc` commands that live outside cli.py, one module per group (serve, deploy, ...).

Each module defines click commands and lists them in `COMMANDS`; cli.py registers them. They
import their shared options and helpers from `ccc_dsl.commands.common`, never from cli.py.
"""
