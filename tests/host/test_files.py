"""files.atomic_write, through which the host writes every model, take, report and CSV: a
failure half way leaves the earlier file whole and no temporary file behind."""

import os

import pytest

from tinyml_host import export, files
from tinyml_host.errors import TinymlError


def test_a_write_that_fails_half_way_leaves_the_earlier_file_whole(tmp_path):
    path = tmp_path / "model.tmdl"
    files.atomic_write(path, b"first version")

    def half(f):
        f.write(b"second, cut short")
        raise KeyboardInterrupt   # Ctrl-C in the middle of the write

    with pytest.raises(KeyboardInterrupt):
        files.atomic_write(path, half)
    assert path.read_bytes() == b"first version" and os.listdir(tmp_path) == ["model.tmdl"]


def test_text_bytes_and_writers_land_with_parents_made_and_the_usual_mode(tmp_path):
    old = os.umask(0o022)
    try:
        a = files.atomic_write(tmp_path / "a" / "b" / "report.json", "{}\n")
        b = files.atomic_write(tmp_path / "c.bin", b"\x00\xff")
        c = files.atomic_write(tmp_path / "d.csv", lambda f: f.write(b"seq\n1\n"))
    finally:
        os.umask(old)
    assert (a.read_text(), b.read_bytes(), c.read_text()) == ("{}\n", b"\x00\xff", "seq\n1\n")
    assert {oct(p.stat().st_mode & 0o777) for p in (a, b, c)} == {"0o644"}   # not mkstemp's 0o600


def test_an_export_that_fails_leaves_the_earlier_tmdl(tmp_path):
    out = tmp_path / "sine.tmdl"
    out.write_bytes(b"the user's earlier model")
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer")
    with pytest.raises(TinymlError):
        export.export(bad, out)
    assert out.read_bytes() == b"the user's earlier model" and sorted(os.listdir(tmp_path)) == ["bad.tflite", "sine.tmdl"]
