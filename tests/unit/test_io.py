"""Atomic writes: all-or-nothing, normal file mode, temp files cleaned up on failure."""

import os
import stat

import pytest

from saferlhf.io import atomic_write, read_json, write_json


def test_write_json_round_trip_and_mode(tmp_path):
    p = write_json(tmp_path / "sub" / "x.json", {"a": 1})
    assert read_json(p) == {"a": 1}
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask


def test_failed_write_keeps_old_content_and_leaves_no_temp(tmp_path):
    p = write_json(tmp_path / "x.json", {"old": True})

    def boom(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(p, boom)
    assert read_json(p) == {"old": True}
    assert [f.name for f in tmp_path.iterdir()] == ["x.json"]
