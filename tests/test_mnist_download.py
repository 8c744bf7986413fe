"""Downloading MNIST for real, from an HTTP server on 127.0.0.1 (no other network).

The server serves copies of the test-split files of the shared MNIST folder; the
download goes into a cache under tmp_path.
"""

from __future__ import annotations

import functools
import gzip
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from neurocbram.cli import main
from neurocbram.datasets import (
    MNIST_FILES,
    MNIST_SHA256,
    DownloadError,
    MNISTChecksumError,
    MNISTNotFoundError,
    download_mnist,
    load_mnist,
)
from neurocbram.datasets.download import sha256_of_file

IMAGES, LABELS = (f"{name}.gz" for name in MNIST_FILES["test"])
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


class Server:
    """A ThreadingHTTPServer on 127.0.0.1 serving ``root``; records request paths.

    ``fail_first`` makes the first GET of every path answer 503 (a transient error).
    """

    def __init__(self, root: Path, fail_first: bool = False):
        self.root = root
        self.requests: list[str] = []
        self._failed: set[str] = set()
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server naming)
                server.requests.append(self.path)
                if fail_first and self.path not in server._failed:
                    server._failed.add(self.path)
                    self.send_error(503, "try again")
                    return
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
        )
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def env(monkeypatch, tmp_path) -> Path:
    """Empty cache under tmp_path, no $NEUROCBRAM_MNIST, no proxies; returns the MNIST cache."""
    monkeypatch.delenv("NEUROCBRAM_MNIST", raising=False)
    for scheme in ("http", "https", "all"):
        monkeypatch.delenv(f"{scheme}_proxy", raising=False)
        monkeypatch.delenv(f"{scheme.upper()}_PROXY", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("NEUROCBRAM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "mnist"


@pytest.fixture
def www(mnist_dir, tmp_path) -> Path:
    """Folder with copies of the test-split .gz files."""
    root = tmp_path / "www"
    root.mkdir()
    for name in (IMAGES, LABELS):
        shutil.copy(mnist_dir / name, root / name)
    return root


@pytest.fixture
def serve():
    servers: list[Server] = []

    def start(root: Path, **kwargs) -> Server:
        servers.append(Server(root, **kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def assert_cache_clean(cache: Path) -> None:
    """Nothing half-written, and every file in the cache is a verified MNIST file."""
    for path in cache.iterdir() if cache.exists() else []:
        assert not path.name.endswith(".part"), f"temporary file left: {path}"
        assert sha256_of_file(path) == MNIST_SHA256[path.name.removesuffix(".gz")], path


def corrupt_labels_content(path: Path) -> None:
    """A valid gzip of a valid IDX file whose content differs (one label changed)."""
    data = bytearray(gzip.decompress(path.read_bytes()))
    data[8] = (data[8] + 1) % 10
    path.write_bytes(gzip.compress(bytes(data)))


def flip_bytes_in_gzip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    for k in range(middle, middle + 16):
        data[k] ^= 0xFF
    path.write_bytes(bytes(data))


def test_download_test_split_then_load_from_cache(www, serve, env):
    server = serve(www)
    images, labels = load_mnist("test", mirrors=[server.url], progress=True)
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == TEST_COUNTS
    assert sorted(server.requests) == sorted([f"/{IMAGES}", f"/{LABELS}"])
    assert sorted(p.name for p in env.iterdir()) == sorted([IMAGES, LABELS])
    assert_cache_clean(env)
    # second load: from the cache, no request
    images_again, _ = load_mnist("test", mirrors=[server.url])
    np.testing.assert_array_equal(images, images_again)
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    "corrupt, reason",
    [
        (corrupt_labels_content, "rejected: SHA-256 of the decompressed data is"),
        (flip_bytes_in_gzip, "rejected: not a valid gzip file"),
    ],
)
def test_corrupted_download_is_rejected_and_not_cached(www, serve, env, corrupt, reason):
    corrupt(www / LABELS)
    server = serve(www)
    with pytest.raises(MNISTNotFoundError) as info:
        load_mnist("test", mirrors=[server.url], progress=False)
    message = str(info.value)
    assert f"{server.url}{LABELS}" in message
    assert f"{server.url}{LABELS}: {reason}" in message
    assert not (env / LABELS).exists()
    assert_cache_clean(env)  # the good images file may stay; nothing bad does


def test_second_mirror_used_when_first_is_bad(www, serve, env, tmp_path):
    bad = tmp_path / "www" / "bad"
    bad.mkdir()
    shutil.copy(www / LABELS, bad / LABELS)  # images missing there: HTTP 404
    corrupt_labels_content(bad / LABELS)
    good = tmp_path / "www" / "good"
    good.mkdir()
    for name in (IMAGES, LABELS):
        shutil.copy(www / name, good / name)
    server = serve(www)
    mirrors = [server.url + "bad/", server.url + "good"]  # no trailing slash on the second
    folder = download_mnist("test", mirrors=mirrors, progress=False, retry_wait=0)
    assert folder == env
    expected = [f"/bad/{IMAGES}", f"/good/{IMAGES}", f"/bad/{LABELS}", f"/good/{LABELS}"]
    assert server.requests == expected
    assert_cache_clean(env)
    assert len(load_mnist("test", download=False)[1]) == 10_000


def test_transient_errors_are_retried(www, serve, tmp_path, env):
    server = serve(www, fail_first=True)
    target = tmp_path / "elsewhere"
    download_mnist("test", target, mirrors=[server.url], progress=False, retry_wait=0)
    assert server.requests == [f"/{IMAGES}"] * 2 + [f"/{LABELS}"] * 2
    assert_cache_clean(target)
    assert sorted(p.name for p in target.iterdir()) == sorted([IMAGES, LABELS])


def test_every_mirror_failing_gives_one_clear_error(serve, tmp_path, env):
    server = serve(tmp_path)  # serves nothing useful: 404
    with pytest.raises(MNISTNotFoundError) as info:
        load_mnist("test", mirrors=[server.url, server.url + "other/"], progress=False)
    message = str(info.value)
    assert f"{server.url}{IMAGES}: HTTP 404" in message
    assert f"{server.url}other/{IMAGES}: HTTP 404" in message
    assert "NEUROCBRAM_MNIST" in message and f"cache: {env}" in message
    with pytest.raises(DownloadError):
        download_mnist("test", mirrors=[server.url], progress=False)


def test_corrupted_file_already_in_target_is_not_overwritten(www, serve, env):
    env.mkdir(parents=True)
    (env / LABELS).write_bytes(b"garbage")
    server = serve(www)
    with pytest.raises(MNISTChecksumError, match=LABELS):
        download_mnist("test", mirrors=[server.url], progress=False)
    assert (env / LABELS).read_bytes() == b"garbage"


def test_cli_data_download(www, serve, env, capsys):
    server = serve(www)
    argv = ["--quiet", "data", "--download", "--split", "test", "--mirror", server.url]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"test: not found; downloading into {env}" in out
    assert f"test: found at cache ({env})" in out
    assert out.count("sha256 ok") == 2
    assert main(argv) == 0  # already there: no new request
    assert len(server.requests) == 2


def test_cli_data_download_failure(serve, tmp_path, env, capsys):
    server = serve(tmp_path)
    assert main(["--quiet", "data", "--download", "--split", "test", "--mirror", server.url]) == 1
    err = capsys.readouterr().err
    assert "download failed" in err and "HTTP 404" in err
