"""Naming the files ext4 events touched by (device, inode): usdk.inodes and its sidecar file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from correlate.read import inodes as reader
from usdk.inodes import kernel_dev, resolve, write_tsv

pytestmark = pytest.mark.unit


def _key(p: Path) -> tuple[int, int]:
    st = os.stat(p)
    return kernel_dev(os.major(st.st_dev), os.minor(st.st_dev)), st.st_ino


@pytest.mark.skipif(os.geteuid() != 0, reason="open_by_handle_at needs CAP_DAC_READ_SEARCH")
def test_live_files_are_named_and_deleted_ones_left_out(tmp_path: Path) -> None:
    kept, gone = tmp_path / "kept file", tmp_path / "gone"
    kept.write_bytes(b"x")
    gone.write_bytes(b"y")
    k_kept, k_gone = _key(kept), _key(gone)
    gone.unlink()
    fstype = os.popen(f"findmnt -no FSTYPE -T {tmp_path}").read().strip()
    if fstype != "ext4":
        pytest.skip(f"{tmp_path} is on {fstype}: handles here are ext4's")
    got = resolve({k_kept, k_gone, (k_kept[0], 2**31 - 1), (kernel_dev(4095, 7), 12)})
    assert got == {k_kept: str(kept)}


def test_the_sidecar_round_trips_odd_paths(tmp_path: Path) -> None:
    paths = {(kernel_dev(254, 0), 12): "/a/plain", (kernel_dev(8, 1), 13): "/b/tab\there",
             (kernel_dev(8, 1), 14): "/c/new\nline\\back"}
    d = tmp_path / "perf"
    (d / "ctf").mkdir(parents=True)
    write_tsv(d / "inodes.tsv", paths)
    df = reader.load([d / "ctf"])
    assert df is not None
    assert {(int(r.dev), int(r.ino)): r.path for r in df.itertuples()} == paths
    assert reader.load([tmp_path / "elsewhere" / "ctf"]) is None
