import os

import pytest

from pipeline.io import read_json, sha256_file, write_json, write_text


def test_json_round_trip_and_hash(tmp_path):
    path = write_json(tmp_path / "a" / "x.json", {"b": 1, "a": [1.5]})
    assert read_json(path) == {"a": [1.5], "b": 1}
    assert len(sha256_file(path)) == 64


def test_a_crash_while_writing_leaves_the_previous_file_whole(tmp_path, monkeypatch):
    path = write_text(tmp_path / "scaling.json", "old content")

    def crash(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        write_text(path, "new content that never lands")
    assert path.read_text() == "old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scaling.json"], "no temporary file is left behind"


def test_exclusive_lock_keeps_a_second_holder_out_until_released(tmp_path):
    from pipeline.io import exclusive_lock

    path = tmp_path / "locks" / "m.lock"
    with exclusive_lock(path), pytest.raises(TimeoutError, match=r"m\.lock"), exclusive_lock(path, timeout=0.5):
        pass
    with exclusive_lock(path, timeout=0.5):  # released: the next holder gets it at once
        pass
