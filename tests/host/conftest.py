"""Fixtures the deploy tests share: a sine .tmdl with golden vectors and a virtual board."""

import pytest

import models
from tinyml_host import export, tmdl
from tinyml_host.sim import VirtualBoard


@pytest.fixture
def model_file(tmp_path):
    data = models.sine_tflite()
    model = export.convert(data)
    export.add_vectors(model, data, 16)
    path = tmp_path / "sine.tmdl"
    path.write_bytes(tmdl.encode(model))
    return path


@pytest.fixture
def vboard(tmp_path):
    with VirtualBoard(tmp_path / "flash") as vb:
        yield vb
