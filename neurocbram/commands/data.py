"""``neurocbram data``: where MNIST was found, and whether every file is intact."""

from __future__ import annotations

import argparse
import sys

from ..datasets.download import DownloadError
from ..datasets.mnist import (
    MNIST_MIRRORS,
    SPLITS,
    MNISTChecksumError,
    download_mnist,
    find_mnist,
    mnist_cache_dir,
    mnist_search_path,
    verify_mnist,
)

__all__ = ["HELP", "add_arguments", "run"]

HELP = "locate the MNIST files (optionally download them) and verify their checksums"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--folder``, ``--download``, ``--split`` and ``--mirror``."""
    parser.add_argument(
        "--folder",
        metavar="DIR",
        help="folder searched first (before $NEUROCBRAM_MNIST and the cache)",
    )
    parser.add_argument(
        "--download",
        action="store_true",
        help=f"download splits found nowhere into the cache ({mnist_cache_dir()})",
    )
    parser.add_argument(
        "--split", choices=[*SPLITS, "all"], default="all", help="which split (default: all)"
    )
    parser.add_argument(
        "--mirror",
        action="append",
        metavar="URL",
        help="base URL to download from (repeatable; default: " + ", ".join(MNIST_MIRRORS) + ")",
    )


def run(args: argparse.Namespace) -> int:
    """Report the search order, each split's location and each file's checksum.

    Returns 0 when every requested file is found and has the canonical SHA-256,
    1 otherwise (the reason goes to stderr).
    """
    quiet = bool(getattr(args, "quiet", False))
    splits = list(SPLITS) if args.split == "all" else [args.split]

    print("MNIST search order:")
    for k, place in enumerate(mnist_search_path(args.folder), 1):
        print(f"  {k}. {place.source}: {place.folder if place.folder else '(not set)'}")

    failed_downloads: list[str] = []
    if args.download:
        for split in splits:
            if find_mnist(split, args.folder) is not None:
                continue
            print(f"{split}: not found; downloading into {mnist_cache_dir()}")
            try:
                download_mnist(split, mirrors=args.mirror, progress=not quiet)
            except (DownloadError, MNISTChecksumError) as error:
                failed_downloads.append(f"{split}: {error}")

    statuses = verify_mnist(args.folder, splits)
    for split in splits:
        location = find_mnist(split, args.folder)
        where = f"found at {location.source} ({location.folder})" if location else "NOT FOUND"
        print(f"{split}: {where}")
        for status in (s for s in statuses if s.split == split):
            if status.path is None:
                continue
            verdict = "sha256 ok" if status.ok else f"BAD: {status.problem}"
            print(f"  {status.path.name:<28} {verdict}")

    bad = [s for s in statuses if not s.ok]
    if not bad:
        print(f"all {len(statuses)} MNIST files found and verified")
        return 0
    for message in failed_downloads:
        print(f"neurocbram data: download failed: {message}", file=sys.stderr)
    missing = sorted({s.split for s in bad if s.path is None})
    corrupted = [s for s in bad if s.path is not None]
    if missing:
        hint = (
            "run `neurocbram data --download`, set NEUROCBRAM_MNIST to a folder holding "
            "the files, or pass --folder DIR"
        )
        print(
            f"neurocbram data: MNIST split(s) {', '.join(missing)} not found; {hint}",
            file=sys.stderr,
        )
    for status in corrupted:
        print(
            f"neurocbram data: {status.path}: {status.problem}; delete it and provide a good "
            "copy (e.g. `neurocbram data --download`)",
            file=sys.stderr,
        )
    return 1
