"""MNIST IDX loading: search order, format and checksum errors, the `neurocbram data` command.

No test here touches the network: every load uses ``download=False`` or finds the files.
"""

from __future__ import annotations

import gzip
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from neurocbram.cli import main
from neurocbram.datasets import (
    MNIST_FILES,
    MNISTChecksumError,
    MNISTFormatError,
    MNISTNotFoundError,
    download_mnist,
    find_mnist,
    load_mnist,
    read_idx,
    verify_mnist,
)

TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """IDX encoding of ``array`` (header: 0, 0, type, ndim, then big-endian sizes)."""
    header = bytes([0, 0, type_code, array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    big_endian = array.astype(array.dtype.newbyteorder(">"))
    return header + big_endian.tobytes()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def tiny_split(folder: Path, n_images: int = 3, n_labels: int | None = None, gz: bool = True):
    """Well-formed but non-canonical test-split files (images 28x28)."""
    suffix = ".gz" if gz else ""
    images_name, labels_name = MNIST_FILES["test"]
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n_images, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n_images if n_labels is None else n_labels, dtype=np.uint8)
    images_path = write(folder / f"{images_name}{suffix}", idx_bytes(images))
    labels_path = write(folder / f"{labels_name}{suffix}", idx_bytes(labels))
    return images_path, labels_path, images, labels


@pytest.fixture
def isolated(monkeypatch, tmp_path) -> Path:
    """No $NEUROCBRAM_MNIST, and an empty cache under tmp_path; returns the cache folder."""
    monkeypatch.delenv("NEUROCBRAM_MNIST", raising=False)
    monkeypatch.setenv("NEUROCBRAM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "mnist"


# --- the real files ------------------------------------------------------------------------


def test_test_split_from_env_var(mnist_dir, isolated, monkeypatch):
    monkeypatch.setenv("NEUROCBRAM_MNIST", str(mnist_dir))
    assert find_mnist("test").source == "$NEUROCBRAM_MNIST"
    images, labels = load_mnist("test", download=False)
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10_000,) and labels.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == TEST_COUNTS
    assert images.max() == 255 and images.min() == 0
    assert images.flags.writeable


def test_train_split_loads_fast(mnist_dir, isolated):
    start = time.perf_counter()
    images, labels = load_mnist("train", mnist_dir, download=False)
    elapsed = time.perf_counter() - start
    assert images.shape == (60_000, 28, 28) and labels.shape == (60_000,)
    assert np.bincount(labels, minlength=10).sum() == 60_000
    assert elapsed < 2.0, f"loading the training set took {elapsed:.2f} s"


def test_raw_files_preferred_and_equal_to_gz(mnist_dir, isolated, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in MNIST_FILES["test"]:
        with gzip.open(mnist_dir / f"{name}.gz") as source, open(raw / name, "wb") as target:
            shutil.copyfileobj(source, target)
        shutil.copy(mnist_dir / f"{name}.gz", raw / f"{name}.gz")
    location = find_mnist("test", raw)
    assert location.source == "folder argument"
    assert location.images.name == "t10k-images-idx3-ubyte"  # raw preferred
    images, labels = load_mnist("test", raw, download=False)
    gz_images, gz_labels = load_mnist("test", mnist_dir, download=False)
    np.testing.assert_array_equal(images, gz_images)
    np.testing.assert_array_equal(labels, gz_labels)


def test_changed_label_in_real_file_fails_checksum(mnist_dir, isolated, tmp_path):
    folder = tmp_path / "edited"
    images_name, labels_name = MNIST_FILES["test"]
    folder.mkdir()
    shutil.copy(mnist_dir / f"{images_name}.gz", folder)
    data = bytearray(gzip.decompress((mnist_dir / f"{labels_name}.gz").read_bytes()))
    data[8 + 17] = (data[8 + 17] + 1) % 10  # one label changed: still a valid IDX file
    write(folder / labels_name, bytes(data))
    with pytest.raises(MNISTChecksumError, match=f"{labels_name}: checksum mismatch"):
        load_mnist("test", folder, download=False)
    images, labels = load_mnist("test", folder, download=False, verify=False)
    assert len(images) == len(labels) == 10_000


# --- search order and "not found" -----------------------------------------------------------


def test_search_order_folder_then_env_then_cache(tmp_path, isolated, monkeypatch):
    explicit, env = tmp_path / "explicit", tmp_path / "env"
    for folder in (explicit, env, isolated):
        tiny_split(folder)
    monkeypatch.setenv("NEUROCBRAM_MNIST", str(env))
    assert find_mnist("test", explicit).source == "folder argument"
    assert find_mnist("test").source == "$NEUROCBRAM_MNIST"
    monkeypatch.setenv("NEUROCBRAM_MNIST", str(tmp_path / "nowhere"))
    location = find_mnist("test", tmp_path / "also-nowhere")
    assert (location.source, location.folder) == ("cache", isolated)
    # a folder holding only one of the two files is skipped
    (explicit / f"{MNIST_FILES['test'][1]}.gz").unlink()
    assert find_mnist("test", explicit).source == "cache"


def test_xdg_cache_home_used_without_neurocbram_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("NEUROCBRAM_MNIST", raising=False)
    monkeypatch.delenv("NEUROCBRAM_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    tiny_split(tmp_path / "xdg" / "neurocbram" / "mnist")
    assert find_mnist("test").folder == tmp_path / "xdg" / "neurocbram" / "mnist"


def test_not_found_names_every_place_and_the_remedies(tmp_path, isolated, monkeypatch):
    partial = tmp_path / "partial"
    write(partial / "t10k-images-idx3-ubyte.gz", b"")
    monkeypatch.setenv("NEUROCBRAM_MNIST", str(tmp_path / "missing"))
    with pytest.raises(MNISTNotFoundError) as info:
        load_mnist("test", partial, download=False)
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert f"folder argument: {partial} (only t10k-images-idx3-ubyte.gz present)" in message
    assert f"$NEUROCBRAM_MNIST: {tmp_path / 'missing'} (no such folder)" in message
    assert f"cache: {isolated}" in message
    assert "download=False" in message
    assert "NEUROCBRAM_MNIST" in message and "folder=" in message


@pytest.mark.parametrize("call", [load_mnist, find_mnist, download_mnist])
def test_wrong_split_name(call, isolated):
    with pytest.raises(ValueError, match="'validation'.*allowed splits: train, test"):
        call("validation")


# --- malformed files ------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_wrong_magic_number(tmp_path, isolated, gz):
    images_path, *_ = tiny_split(tmp_path, gz=gz)
    write(images_path, b"\x1f\x8bnot an idx file at all")
    with pytest.raises(MNISTFormatError, match=f"{images_path.name}: wrong magic number 1f8b"):
        load_mnist("test", tmp_path, download=False)


def test_labels_where_images_expected(tmp_path, isolated):
    images_path, labels_path, *_ = tiny_split(tmp_path)
    shutil.copy(labels_path, images_path)
    with pytest.raises(MNISTFormatError, match=f"{images_path.name}: wrong magic number 00000801"):
        load_mnist("test", tmp_path, download=False)


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_file(tmp_path, isolated, gz):
    images_path, _, images, _ = tiny_split(tmp_path, gz=gz)
    full = idx_bytes(images)
    write(images_path, full[: len(full) - 100])
    with pytest.raises(MNISTFormatError) as info:
        load_mnist("test", tmp_path, download=False)
    message = str(info.value)
    assert images_path.name in message and "truncated" in message
    assert "(3, 28, 28)" in message and f"only {3 * 784 - 100} data bytes" in message


def test_truncated_gzip_stream(tmp_path, isolated):
    images_path, *_ = tiny_split(tmp_path)
    compressed = images_path.read_bytes()
    images_path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(MNISTFormatError, match=f"{images_path.name}: corrupted gzip data"):
        load_mnist("test", tmp_path, download=False)


def test_trailing_bytes(tmp_path, isolated):
    _, labels_path, _, labels = tiny_split(tmp_path)
    write(labels_path, idx_bytes(labels) + b"\x00")
    with pytest.raises(MNISTFormatError, match=f"{labels_path.name}: more bytes than"):
        load_mnist("test", tmp_path, download=False)


def test_image_label_count_mismatch(tmp_path, isolated):
    images_path, labels_path, *_ = tiny_split(tmp_path, n_images=3, n_labels=4)
    with pytest.raises(MNISTFormatError) as info:
        load_mnist("test", tmp_path, download=False)
    message = str(info.value)
    assert "count mismatch" in message
    assert f"{images_path} holds 3 images" in message
    assert f"{labels_path} holds 4 labels" in message


def test_label_out_of_range(tmp_path, isolated):
    _, labels_path, *_ = tiny_split(tmp_path)
    write(labels_path, idx_bytes(np.array([1, 12, 3], dtype=np.uint8)))
    with pytest.raises(MNISTFormatError, match="label value 12 outside 0..9"):
        load_mnist("test", tmp_path, download=False)


def test_checksum_mismatch_on_well_formed_file(tmp_path, isolated):
    images_path, _, images, labels = tiny_split(tmp_path)
    with pytest.raises(MNISTChecksumError) as info:
        load_mnist("test", tmp_path, download=False)
    message = str(info.value)
    assert f"{images_path}: checksum mismatch" in message
    assert "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7" in message
    got_images, got_labels = load_mnist("test", tmp_path, download=False, verify=False)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_read_idx_multibyte_big_endian(tmp_path):
    array = np.arange(-6, 6, dtype=np.int16).reshape(3, 4) * 1000
    path = write(tmp_path / "values.idx.gz", idx_bytes(array, type_code=0x0B))
    got = read_idx(path)
    assert got.dtype == np.dtype("int16") and got.dtype.isnative
    np.testing.assert_array_equal(got, array)


# --- verify_mnist and the CLI ---------------------------------------------------------------


def test_verify_reports_each_file(mnist_dir, tmp_path, isolated):
    statuses = verify_mnist(mnist_dir)
    assert [s.name for s in statuses] == [*MNIST_FILES["train"], *MNIST_FILES["test"]]
    assert all(s.ok and s.source == "folder argument" and s.problem == "" for s in statuses)
    tiny_split(tmp_path / "bad")
    bad = verify_mnist(tmp_path / "bad", ["test"])
    assert [s.ok for s in bad] == [False, False]
    assert all("differs from" in s.problem for s in bad)
    missing = verify_mnist(tmp_path / "empty", ["test"])
    assert [(s.path, s.problem) for s in missing] == [(None, "not found")] * 2


def test_cli_data_all_good(mnist_dir, isolated, capsys):
    assert main(["data", "--folder", str(mnist_dir)]) == 0
    out = capsys.readouterr().out
    assert f"train: found at folder argument ({mnist_dir})" in out
    assert f"test: found at folder argument ({mnist_dir})" in out
    assert out.count("sha256 ok") == 4
    assert "all 4 MNIST files found and verified" in out


def test_cli_data_not_found(tmp_path, isolated, capsys):
    assert main(["--quiet", "data", "--folder", str(tmp_path / "empty"), "--split", "test"]) == 1
    captured = capsys.readouterr()
    assert "test: NOT FOUND" in captured.out
    assert f"cache: {isolated}" in captured.out
    assert "test not found" in captured.err
    assert "--download" in captured.err and "NEUROCBRAM_MNIST" in captured.err


def test_cli_data_corrupted_file(tmp_path, isolated, capsys):
    images_path, *_ = tiny_split(tmp_path)
    assert main(["data", "--folder", str(tmp_path), "--split", "test"]) == 1
    captured = capsys.readouterr()
    assert "BAD: SHA-256" in captured.out
    assert f"{images_path}: SHA-256" in captured.err
