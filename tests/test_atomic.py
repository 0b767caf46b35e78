"""adjax.atomic: a write either lands whole or leaves the earlier file as it was."""

import errno

import pytest

from adjax.atomic import read_json, replacing, write_json, write_text


def _siblings(path):
    return sorted(p.name for p in path.parent.iterdir())


def test_replacing_renames_onto_the_target(tmp_path):
    path = tmp_path / "deep" / "out.bin"
    with replacing(path, suffix=".tmp.bin") as tmp:
        assert tmp.parent == path.parent and tmp.name.endswith(".tmp.bin")
        assert not path.exists()  # nothing visible until the block ends
        tmp.write_bytes(b"new")
    assert path.read_bytes() == b"new"
    assert _siblings(path) == ["out.bin"]


def test_a_failed_write_keeps_the_earlier_file_and_no_temporary(tmp_path):
    path = write_text(tmp_path / "out.txt", "old")
    with pytest.raises(RuntimeError, match="interrupted"), replacing(path) as tmp:
        tmp.write_text("half of the new")
        raise RuntimeError("interrupted")
    assert path.read_text() == "old"
    assert _siblings(path) == ["out.txt"]


def test_a_full_disk_names_the_file(tmp_path):
    path = tmp_path / "out.txt"
    with pytest.raises(OSError, match="disk full.*out.txt"), replacing(path):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert not path.exists() and _siblings(path) == []


def test_checksummed_json_refuses_an_edited_number(tmp_path):
    path = write_json(tmp_path / "r.json", {"score": 9.78}, checksum=True)
    assert read_json(path) == {"score": 9.78}
    path.write_text(path.read_text().replace("9.78", "9.87"))
    with pytest.raises(ValueError, match="r.json"):
        read_json(path)
