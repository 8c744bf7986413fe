"""The ``neurocbram`` command line: one subcommand per module in :mod:`neurocbram.commands`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["COMMANDS", "build_parser", "main"]

#: subcommand name -> module under neurocbram.commands (imported lazily so that
#: ``neurocbram data`` does not pay for importing Brian2).
COMMANDS: dict[str, str] = {
    "data": "data",
    "devices": "devices",
    "train": "train",
    "evaluate": "evaluate",
    "rate": "rate",
    "structure": "structure",
    "sweep": "sweep",
}


def _load(name: str):
    return importlib.import_module(f"neurocbram.commands.{COMMANDS[name]}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neurocbram",
        description="Neuromorphic networks on memristive device cards (Brian2).",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bars, only results and errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = _load(name)
        sub_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except (FileNotFoundError, ValueError) as error:
        print(f"neurocbram {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
