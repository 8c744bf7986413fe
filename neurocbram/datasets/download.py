"""Downloading data files: mirrors, retries, a progress bar, checksum, atomic rename.

A download is written to a hidden temporary file beside its destination, checked
by the caller's ``check`` function (for MNIST: the SHA-256 of the decompressed
bytes) and only then renamed onto the destination with :func:`os.replace`, so a
partial or corrupted download never appears under the final name.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm.auto import tqdm

__all__ = [
    "DownloadError",
    "cache_root",
    "sha256_of_file",
    "download_file",
]

_CHUNK = 1 << 16
_USER_AGENT = "neurocbram-dataset-download/0.1"


class DownloadError(OSError):
    """No mirror delivered a file that passed its check; the message lists every attempt."""


def cache_root() -> Path:
    """Per-user cache folder of neurocbram.

    ``$NEUROCBRAM_CACHE`` if set, else ``$XDG_CACHE_HOME/neurocbram``, else
    ``~/.cache/neurocbram``. The folder is not created here.
    """
    explicit = os.environ.get("NEUROCBRAM_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "neurocbram"


def sha256_of_file(path: str | os.PathLike[str], *, decompress: bool | None = None) -> str:
    """SHA-256 (hex) of a file's bytes, of its decompressed bytes if it is gzip.

    Parameters
    ----------
    path
        The file.
    decompress
        ``True``: hash the gzip-decompressed content; ``False``: hash the bytes as
        stored; ``None`` (default): decompress when the name ends in ``.gz``.

    Raises
    ------
    ValueError
        The file is not a valid gzip stream although it is to be decompressed.
    """
    path = Path(path)
    if decompress is None:
        decompress = path.name.endswith(".gz")
    digest = hashlib.sha256()
    try:
        with gzip.open(path, "rb") if decompress else open(path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise ValueError(f"{path}: not a valid gzip file ({error})") from None
    return digest.hexdigest()


class _RetryableError(Exception):
    """A transient failure: the same URL may work on the next try."""


def _fetch_once(url: str, target: Path, *, timeout: float, progress: bool, label: str) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code >= 500 or error.code in (408, 429):
            raise _RetryableError(f"HTTP {error.code} {error.reason}") from None
        raise OSError(f"HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        raise _RetryableError(f"cannot connect ({reason})") from None
    with response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        received = 0
        try:
            with (
                open(target, "wb") as out,
                tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=label,
                    disable=not progress,
                    leave=False,
                ) as bar,
            ):
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        except (TimeoutError, ConnectionError, http.client.HTTPException) as error:
            raise _RetryableError(f"transfer interrupted ({error!r})") from None
    if total is not None and received != total:
        raise _RetryableError(f"transfer incomplete: {received} of {total} bytes")


def download_file(
    name: str,
    destination: str | os.PathLike[str],
    mirrors: Sequence[str],
    *,
    check: Callable[[Path], None] | None = None,
    retries: int = 3,
    retry_wait: float = 1.0,
    timeout: float = 60.0,
    progress: bool = True,
) -> str:
    """Download ``name`` from the first mirror that delivers a good copy.

    Each mirror URL is joined with ``name``. Connection errors, timeouts,
    interrupted transfers and HTTP 5xx are retried up to ``retries`` times per
    mirror (waiting ``retry_wait * 2**k`` seconds); other HTTP errors and a
    failed ``check`` move on to the next mirror.

    Parameters
    ----------
    name
        File name on the mirrors (e.g. ``"t10k-labels-idx1-ubyte.gz"``).
    destination
        Final path. Its folder is created if needed; it is written only after
        ``check`` passed, by an atomic rename of a temporary file beside it.
    mirrors
        Base URLs, tried in order (a trailing ``/`` is added when missing).
    check
        Called with the temporary file; raises :class:`ValueError` to reject it.
    retries
        Attempts per mirror for transient failures (at least 1).
    retry_wait
        Seconds before the first retry; doubled for each further one.
    timeout
        Seconds of socket inactivity before an attempt is abandoned.
    progress
        Show a tqdm progress bar.

    Returns
    -------
    str
        The URL the file came from.

    Raises
    ------
    DownloadError
        Every mirror failed; the message names each URL and why.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    if not mirrors:
        raise DownloadError(f"cannot download {name}: no mirrors given")
    for mirror in mirrors:
        url = mirror if mirror.endswith("/") else mirror + "/"
        url += name
        for attempt in range(max(1, retries)):
            handle, temp_name = tempfile.mkstemp(
                prefix=f".{destination.name}.", suffix=".part", dir=destination.parent
            )
            os.close(handle)
            temp = Path(temp_name)
            try:
                _fetch_once(url, temp, timeout=timeout, progress=progress, label=name)
                if check is not None:
                    check(temp)
                os.replace(temp, destination)
                return url
            except _RetryableError as error:
                failures.append(f"{url} (try {attempt + 1}): {error}")
                if attempt + 1 < max(1, retries):
                    time.sleep(retry_wait * 2**attempt)
                continue
            except (OSError, ValueError) as error:
                failures.append(f"{url}: {error}")
                break
            finally:
                temp.unlink(missing_ok=True)
    raise DownloadError(f"could not download {name} from any mirror:\n  " + "\n  ".join(failures))
