"""The .tmdl's records (docs/format.md, "Records"): front end and labels, written by the host,
read back by both readers; damaged records refused by name."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from tinyml_host import tmdl

from device.mpy import lines_with, run


def _model(**kw) -> tmdl.TmdlModel:
    rng = np.random.default_rng(3)
    layer = tmdl.Layer(rng.integers(-128, 128, (4, 6)).astype(np.int8), np.zeros(4, np.int32),
                       np.array([1 << 30], np.int32), np.array([-4], np.int8), -128, 127, 2)
    return tmdl.TmdlModel.dense([layer], 0.1, 0, 0.1, 2, **kw)


FRONTEND = bytes(range(1, 14))   # 13 bytes: padding follows


def test_records_round_trip_and_a_file_without_them_has_none():
    model = _model(frontend=FRONTEND, labels=["silence", "unknown", "yes", "no"])
    back = tmdl.decode(tmdl.encode(model))
    assert back.frontend == FRONTEND and back.labels == ["silence", "unknown", "yes", "no"]
    plain = tmdl.decode(tmdl.encode(_model()))
    assert plain.frontend is None and plain.labels == []


def test_labels_must_match_the_outputs_and_be_lines():
    with pytest.raises(ValueError, match="3 labels for 4 outputs"):
        tmdl.encode(_model(labels=["a", "b", "c"]))
    with pytest.raises(ValueError, match="line break"):
        tmdl.encode(_model(labels=["a", "b\nc", "d", "e"]))


def _with_record(blob: bytes, kind: int, data: bytes) -> bytes:
    body = blob[tmdl.HEADER.size:] + tmdl.RECORD.pack(kind, 0, len(data)) + data + b"\0" * (-len(data) % 4)
    _, version, rounding, flags, _, _ = tmdl.HEADER.unpack_from(blob)
    return tmdl.pack_header(body, rounding, flags, version) + body


def test_an_unknown_record_is_skipped_a_second_of_a_kind_and_a_short_one_refused():
    blob = tmdl.encode(_model(labels=["a", "b", "c", "d"]))
    assert tmdl.decode(_with_record(blob, 77, b"future")).labels == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="a second record of type 2"):
        tmdl.decode(_with_record(blob, tmdl.RECORD_LABELS, b"e\nf\ng\nh"))
    short = bytearray(_with_record(blob, 5, b"xyzw"))
    struct.pack_into("<I", short, len(short) - 8, 400)   # the record says 400 bytes, 4 follow
    body = bytes(short[tmdl.HEADER.size:])
    with pytest.raises(ValueError, match="truncated .tmdl: record of type 5 needs 400 bytes"):
        tmdl.decode(tmdl.pack_header(body, 0, 0) + body)


DEVICE = """
import tinyml
m = tinyml.load('m.tmdl', backend='python')
print('L', m.labels)
c = m.frontend_config()
print('F', None if c is None else bytes(c).hex())
"""


@pytest.mark.parametrize("records", [{}, {"frontend": FRONTEND, "labels": ["sil", "unk", "yes", "no"]}])
def test_the_board_reads_the_labels_and_the_front_end(tmp_path, records):
    (tmp_path / "m.tmdl").write_bytes(tmdl.encode(_model(**records)))
    out = run(DEVICE, cwd=tmp_path)
    want_labels = str(records.get("labels")).replace('"', "'")
    assert lines_with("L", out) == [want_labels]
    assert lines_with("F", out) == [FRONTEND.hex() if records else "None"]


def test_the_board_refuses_labels_that_do_not_match_the_outputs(tmp_path):
    blob = _with_record(tmdl.encode(_model()), tmdl.RECORD_LABELS, b"a\nb")
    (tmp_path / "m.tmdl").write_bytes(blob)
    out = run("import tinyml\ntry:\n tinyml.load('m.tmdl')\nexcept ValueError as e:\n print('E', e)\n", cwd=tmp_path)
    assert lines_with("E", out) == ["invalid .tmdl: 2 labels for 4 outputs"]
