"""MNIST (LeCun, Cortes & Burges) from its IDX files: search, download, checks.

The four IDX files are looked for, gzip-compressed (``name.gz``) or raw
(``name``; preferred when both are there), in this order:

1. the ``folder`` argument;
2. the folder named by the environment variable ``NEUROCBRAM_MNIST``;
3. the per-user cache, ``<cache>/mnist`` with ``<cache>`` from
   :func:`neurocbram.datasets.download.cache_root` (``$NEUROCBRAM_CACHE``, else
   ``$XDG_CACHE_HOME/neurocbram``, else ``~/.cache/neurocbram``).

A split is taken from the first folder that holds both of its files. When no
folder does and downloading is allowed, the missing files are fetched into the
cache from :data:`MNIST_MIRRORS`. Every load checks the IDX structure and the
SHA-256 of the decompressed bytes against :data:`MNIST_SHA256`.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .download import DownloadError, cache_root, download_file, sha256_of_file

__all__ = [
    "SPLITS",
    "MNIST_FILES",
    "MNIST_SHA256",
    "MNIST_MIRRORS",
    "ENV_FOLDER",
    "MNISTNotFoundError",
    "MNISTFormatError",
    "MNISTChecksumError",
    "SearchPlace",
    "MNISTLocation",
    "FileStatus",
    "mnist_cache_dir",
    "mnist_search_path",
    "find_mnist",
    "read_idx",
    "load_mnist",
    "download_mnist",
    "verify_mnist",
]

#: The two splits and their (images, labels) file names without ``.gz``.
SPLITS: tuple[str, ...] = ("train", "test")
MNIST_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: SHA-256 of the decompressed canonical files (also given in the data README).
MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: Base URLs serving ``<name>.gz``, tried in order.
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

#: Environment variable naming a folder with the MNIST files.
ENV_FOLDER = "NEUROCBRAM_MNIST"

_MAGIC_IMAGES = 0x00000803  # unsigned bytes, 3 dimensions
_MAGIC_LABELS = 0x00000801  # unsigned bytes, 1 dimension
_IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_HOW_TO_PROVIDE = (
    "To provide the files (gzip or raw IDX, e.g. from the MNIST mirrors):\n"
    f"  - set the environment variable {ENV_FOLDER} to the folder holding them, or\n"
    "  - pass folder=... to load_mnist (CLI: neurocbram data --folder DIR), or\n"
    "  - download them into the cache: `neurocbram data --download` "
    "(or load_mnist(..., download=True))."
)


class MNISTNotFoundError(FileNotFoundError):
    """The files of a split are in none of the searched folders (and were not downloaded)."""


class MNISTFormatError(ValueError):
    """A file is not a well-formed MNIST IDX file (magic, size, counts, values)."""


class MNISTChecksumError(ValueError):
    """A file's decompressed bytes do not have the canonical SHA-256."""


@dataclass(frozen=True)
class SearchPlace:
    """One step of the search order.

    Attributes
    ----------
    source
        ``"folder argument"``, ``"$NEUROCBRAM_MNIST"`` or ``"cache"``.
    folder
        The folder, or ``None`` when this step is not set.
    """

    source: str
    folder: Path | None


@dataclass(frozen=True)
class MNISTLocation:
    """Where a split was found: the search step, its folder and the two files."""

    split: str
    source: str
    folder: Path
    images: Path
    labels: Path


@dataclass(frozen=True)
class FileStatus:
    """Verification result for one MNIST file (see :func:`verify_mnist`).

    Attributes
    ----------
    split, name
        The split and the file name without ``.gz``.
    source
        Search step the split was found at, or ``None`` if not found.
    path
        The file checked, or ``None``.
    sha256
        SHA-256 of its decompressed bytes, or ``None`` if not computed.
    ok
        Found and checksum equal to :data:`MNIST_SHA256`.
    problem
        Empty when ``ok``; otherwise what is wrong.
    """

    split: str
    name: str
    source: str | None
    path: Path | None
    sha256: str | None
    ok: bool
    problem: str = ""


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown MNIST split {split!r}; allowed splits: {', '.join(SPLITS)}")


def mnist_cache_dir() -> Path:
    """The MNIST cache folder: ``<cache_root()>/mnist`` (not created here)."""
    return cache_root() / "mnist"


def mnist_search_path(folder: str | os.PathLike[str] | None = None) -> list[SearchPlace]:
    """The folders searched for MNIST, in order (unset steps have ``folder=None``)."""
    env = os.environ.get(ENV_FOLDER)
    return [
        SearchPlace("folder argument", Path(folder).expanduser() if folder is not None else None),
        SearchPlace(f"${ENV_FOLDER}", Path(env).expanduser() if env else None),
        SearchPlace("cache", mnist_cache_dir()),
    ]


def _file_in(folder: Path, name: str) -> Path | None:
    """``folder/name`` (raw, preferred) or ``folder/name.gz``, whichever exists."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def find_mnist(split: str, folder: str | os.PathLike[str] | None = None) -> MNISTLocation | None:
    """Locate a split along the search order without reading it.

    Returns
    -------
    MNISTLocation or None
        The first folder holding both files of ``split``; ``None`` if none does.
    """
    _check_split(split)
    images_name, labels_name = MNIST_FILES[split]
    for place in mnist_search_path(folder):
        if place.folder is None:
            continue
        images = _file_in(place.folder, images_name)
        labels = _file_in(place.folder, labels_name)
        if images is not None and labels is not None:
            return MNISTLocation(split, place.source, place.folder, images, labels)
    return None


def _describe_place(place: SearchPlace, split: str) -> str:
    if place.folder is None:
        return f"{place.source}: (not set)"
    if not place.folder.is_dir():
        return f"{place.source}: {place.folder} (no such folder)"
    present = [
        path.name
        for name in MNIST_FILES[split]
        if (path := _file_in(place.folder, name)) is not None
    ]
    found = f"only {present[0]} present" if present else "neither file present"
    return f"{place.source}: {place.folder} ({found})"


def _not_found_message(split: str, places: Sequence[SearchPlace], download_note: str) -> str:
    images_name, labels_name = MNIST_FILES[split]
    lines = [
        f"MNIST {split!r} split not found: looked for {images_name}[.gz] and {labels_name}[.gz] in"
    ]
    lines += [f"  {k}. {_describe_place(p, split)}" for k, p in enumerate(places, 1)]
    lines += [download_note, _HOW_TO_PROVIDE]
    return "\n".join(lines)


def _read_up_to(stream, size: int) -> bytearray:
    """Read ``size`` bytes or up to EOF, in chunks (no huge allocation for a bogus header)."""
    buffer = bytearray()
    while len(buffer) < size:
        chunk = stream.read(min(size - len(buffer), 1 << 24))
        if not chunk:
            break
        buffer += chunk
    return buffer


def _read_idx(path: Path) -> tuple[np.ndarray, int, str]:
    """Parse an IDX file (gzip if the name ends in .gz); return (array, magic, sha256)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    digest = hashlib.sha256()
    try:
        with opener(path, "rb") as stream:
            head = stream.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_TYPES:
                raise MNISTFormatError(
                    f"{path}: wrong magic number {head.hex() or '(empty file)'}: "
                    "not an IDX file (expected 0x0000 then a type code and a dimension count, "
                    f"e.g. {_MAGIC_IMAGES:08x} for images, {_MAGIC_LABELS:08x} for labels)"
                )
            magic = int.from_bytes(head, "big")
            dtype = _IDX_TYPES[head[2]]
            ndim = head[3]
            dims_bytes = stream.read(4 * ndim)
            if len(dims_bytes) < 4 * ndim:
                raise MNISTFormatError(
                    f"{path}: truncated header ({len(head) + len(dims_bytes)} bytes, "
                    f"expected {4 + 4 * ndim})"
                )
            shape = tuple(int.from_bytes(dims_bytes[4 * k : 4 * k + 4], "big") for k in range(ndim))
            size = math.prod(shape) * dtype.itemsize
            data = _read_up_to(stream, size)
            if len(data) < size:
                raise MNISTFormatError(
                    f"{path}: truncated file: header declares shape {shape} "
                    f"({size} data bytes) but only {len(data)} data bytes follow"
                )
            if stream.read(1):
                raise MNISTFormatError(
                    f"{path}: more bytes than its header declares (shape {shape}, "
                    f"{size} data bytes)"
                )
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise MNISTFormatError(f"{path}: corrupted gzip data ({error})") from None
    digest.update(head)
    digest.update(dims_bytes)
    digest.update(data)
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    if dtype.byteorder == ">":
        array = array.astype(dtype.newbyteorder("="))
    return array, magic, digest.hexdigest()


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (gzip-compressed if its name ends in ``.gz``).

    Returns
    -------
    numpy.ndarray
        Writable array with the shape and (native-endian) type from the header.

    Raises
    ------
    MNISTFormatError
        Not an IDX file, truncated, trailing bytes, or corrupted gzip data.
    """
    return _read_idx(Path(path))[0]


def _expected_name(path: Path) -> str:
    return path.name[:-3] if path.name.endswith(".gz") else path.name


def _check_sha(path: Path, sha256: str) -> None:
    expected = MNIST_SHA256[_expected_name(path)]
    if sha256 != expected:
        raise MNISTChecksumError(
            f"{path}: checksum mismatch: SHA-256 of the decompressed bytes is {sha256}, "
            f"expected {expected}. The file is corrupted or not the canonical MNIST file; "
            "delete it and provide a good copy (e.g. `neurocbram data --download`)."
        )


def load_mnist(
    split: str = "train",
    folder: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    progress: bool = True,
    mirrors: Sequence[str] | None = None,
    verify: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load an MNIST split.

    Parameters
    ----------
    split
        ``"train"`` (60,000 images) or ``"test"`` (10,000 images).
    folder
        Folder searched first (see the module docstring for the search order).
    download
        Fetch the files into the cache when they are found nowhere.
    progress
        Show download progress bars.
    mirrors
        Base URLs to download from; default :data:`MNIST_MIRRORS`.
    verify
        Check the SHA-256 of the decompressed bytes (about 0.03 s for train).

    Returns
    -------
    images : numpy.ndarray
        ``uint8``, shape ``(N, 28, 28)``, pixel intensities 0..255.
    labels : numpy.ndarray
        ``uint8``, shape ``(N,)``, digits 0..9.

    Raises
    ------
    ValueError
        Unknown ``split``.
    MNISTNotFoundError
        Not found and not downloaded (the message lists every place searched).
    MNISTFormatError
        Malformed file, or image and label counts differ.
    MNISTChecksumError
        A file's decompressed SHA-256 differs from the canonical one.
    """
    _check_split(split)
    location = find_mnist(split, folder)
    if location is None:
        places = mnist_search_path(folder)
        if not download:
            note = "Downloading was not allowed (download=False)."
            raise MNISTNotFoundError(_not_found_message(split, places, note))
        try:
            download_mnist(split, mirrors=mirrors, progress=progress)
        except (DownloadError, MNISTChecksumError) as error:
            note = f"Downloading into the cache failed: {error}"
            raise MNISTNotFoundError(_not_found_message(split, places, note)) from error
        location = find_mnist(split, folder)
        assert location is not None, "downloaded files not found in the cache"

    images, images_magic, images_sha = _read_idx(location.images)
    labels, labels_magic, labels_sha = _read_idx(location.labels)
    if images_magic != _MAGIC_IMAGES:
        raise MNISTFormatError(
            f"{location.images}: wrong magic number {images_magic:08x} for an image file "
            f"(expected {_MAGIC_IMAGES:08x}: unsigned bytes, 3 dimensions)"
        )
    if labels_magic != _MAGIC_LABELS:
        raise MNISTFormatError(
            f"{location.labels}: wrong magic number {labels_magic:08x} for a label file "
            f"(expected {_MAGIC_LABELS:08x}: unsigned bytes, 1 dimension)"
        )
    if len(images) != len(labels):
        raise MNISTFormatError(
            f"image/label count mismatch: {location.images} holds {len(images)} images "
            f"but {location.labels} holds {len(labels)} labels"
        )
    if labels.size and labels.max() > 9:
        raise MNISTFormatError(f"{location.labels}: label value {int(labels.max())} outside 0..9")
    if verify:
        _check_sha(location.images, images_sha)
        _check_sha(location.labels, labels_sha)
    return images, labels


def download_mnist(
    split: str = "train",
    folder: str | os.PathLike[str] | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    retries: int = 3,
    retry_wait: float = 1.0,
    timeout: float = 60.0,
    progress: bool = True,
) -> Path:
    """Download the files of a split that ``folder`` lacks.

    Files already there are verified and kept; each new file is fetched as
    ``<name>.gz``, its decompressed SHA-256 checked, and only then renamed into
    place (see :func:`neurocbram.datasets.download.download_file`).

    Parameters
    ----------
    split
        ``"train"`` or ``"test"``.
    folder
        Target folder; default :func:`mnist_cache_dir`.
    mirrors
        Base URLs, tried in order; default :data:`MNIST_MIRRORS`.
    retries, retry_wait, timeout, progress
        As in :func:`~neurocbram.datasets.download.download_file` (seconds).

    Returns
    -------
    pathlib.Path
        The folder now holding both files.

    Raises
    ------
    DownloadError
        No mirror delivered a file with the right checksum.
    MNISTChecksumError
        A file already in ``folder`` is corrupted (it is not overwritten).
    """
    _check_split(split)
    target = Path(folder).expanduser() if folder is not None else mnist_cache_dir()
    mirrors = tuple(MNIST_MIRRORS if mirrors is None else mirrors)
    for name in MNIST_FILES[split]:
        existing = _file_in(target, name)
        if existing is not None:
            try:
                _check_sha(existing, sha256_of_file(existing))
            except ValueError as error:  # bad gzip or bad checksum
                raise MNISTChecksumError(str(error)) from None
            continue

        def check(temp: Path, name: str = name) -> None:
            try:
                got = sha256_of_file(temp, decompress=True)
            except ValueError as error:
                reason = str(error).removeprefix(f"{temp}: ")
                raise ValueError(f"rejected: {reason}") from None
            if got != MNIST_SHA256[name]:
                raise ValueError(
                    f"rejected: SHA-256 of the decompressed data is {got}, "
                    f"expected {MNIST_SHA256[name]}"
                )

        download_file(
            f"{name}.gz",
            target / f"{name}.gz",
            mirrors,
            check=check,
            retries=retries,
            retry_wait=retry_wait,
            timeout=timeout,
            progress=progress,
        )
    return target


def verify_mnist(
    folder: str | os.PathLike[str] | None = None, splits: Sequence[str] = SPLITS
) -> list[FileStatus]:
    """Locate each split along the search order and check every file's SHA-256.

    Returns
    -------
    list of FileStatus
        One entry per file (two per split), in the order of ``splits``.
    """
    statuses: list[FileStatus] = []
    for split in splits:
        _check_split(split)
        location = find_mnist(split, folder)
        for name in MNIST_FILES[split]:
            if location is None:
                statuses.append(FileStatus(split, name, None, None, None, False, "not found"))
                continue
            path = location.images if name == MNIST_FILES[split][0] else location.labels
            try:
                sha = sha256_of_file(path)
            except (ValueError, OSError) as error:
                statuses.append(
                    FileStatus(split, name, location.source, path, None, False, str(error))
                )
                continue
            ok = sha == MNIST_SHA256[name]
            problem = "" if ok else f"SHA-256 {sha} differs from {MNIST_SHA256[name]}"
            statuses.append(FileStatus(split, name, location.source, path, sha, ok, problem))
    return statuses
