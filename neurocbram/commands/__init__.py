"""Subcommands of the ``neurocbram`` command line.

Each module here defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``; :mod:`neurocbram.cli` lists them in ``COMMANDS``.
"""
