"""Data sets: MNIST from its IDX files (search order, download, checksums).

See :mod:`neurocbram.datasets.mnist` for where the files are looked for and
:mod:`neurocbram.datasets.download` for how they are fetched.
"""

from .download import DownloadError, cache_root
from .mnist import (
    ENV_FOLDER,
    MNIST_FILES,
    MNIST_MIRRORS,
    MNIST_SHA256,
    SPLITS,
    FileStatus,
    MNISTChecksumError,
    MNISTFormatError,
    MNISTLocation,
    MNISTNotFoundError,
    SearchPlace,
    download_mnist,
    find_mnist,
    load_mnist,
    mnist_cache_dir,
    mnist_search_path,
    read_idx,
    verify_mnist,
)

__all__ = [
    "SPLITS",
    "MNIST_FILES",
    "MNIST_SHA256",
    "MNIST_MIRRORS",
    "ENV_FOLDER",
    "DownloadError",
    "MNISTNotFoundError",
    "MNISTFormatError",
    "MNISTChecksumError",
    "SearchPlace",
    "MNISTLocation",
    "FileStatus",
    "cache_root",
    "mnist_cache_dir",
    "mnist_search_path",
    "find_mnist",
    "read_idx",
    "load_mnist",
    "download_mnist",
    "verify_mnist",
]
