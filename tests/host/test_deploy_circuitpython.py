"""Deploy to a CircuitPython board over its CIRCUITPY drive: .py files, staged and verified."""

import hashlib

import pytest

from tinyml_host import cli, deploy
from tinyml_host.errors import TinymlError

BOOT_OUT = ("Adafruit CircuitPython 9.2.1 on 2024-11-20; Arduino Nano 33 BLE with nRF52840\n"
            "Board ID:arduino_nano_33_ble\n")


@pytest.fixture
def drive(tmp_path):
    d = tmp_path / "CIRCUITPY"
    d.mkdir()
    (d / "boot_out.txt").write_text(BOOT_OUT)
    return d


@pytest.fixture
def model(tmp_path):
    import models
    from tinyml_host import export, tmdl

    m = tmp_path / "sine.tmdl"
    m.write_bytes(tmdl.encode(export.convert(models.sine_tflite())))  # `tinyml deploy` checks models first
    return m


def _tree(d):
    return {p.relative_to(d).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in d.rglob("*") if p.is_file()}


def test_deploy_to_the_drive_copies_source_once(drive, model):
    result = deploy.deploy(deploy.DriveTarget(drive), deploy.DEVICE, [model], progress=lambda s: None)
    files = _tree(drive)
    assert {"code.py", "main.py", "config.py", "lib/tinyml/model.py", "sine.tmdl"} <= set(files)
    assert not any(f.endswith((".mpy", ".part")) for f in files)  # CircuitPython gets source
    assert (drive / "lib/tinyml/model.py").read_bytes() == (deploy.DEVICE / "lib/tinyml/model.py").read_bytes()
    assert len(result["copied"]) == len(files) - 1  # all but boot_out.txt
    again = deploy.deploy(deploy.DriveTarget(drive), deploy.DEVICE, [model], progress=lambda s: None)
    assert again["copied"] == []


def test_interrupted_drive_deploy_keeps_old_files(drive, model, tmp_path, monkeypatch):
    deploy.deploy(deploy.DriveTarget(drive), deploy.DEVICE, [model], progress=lambda s: None)
    before = _tree(drive)
    new_src = tmp_path / "new"
    import shutil

    shutil.copytree(deploy.DEVICE, new_src, ignore=shutil.ignore_patterns("__pycache__"))
    for p in new_src.rglob("*.py"):
        p.write_text(p.read_text() + "\n_VERSION = 2\n")
    writes = []
    real_write = deploy.DriveTarget.write

    def unplugged_after_three(self, remote, data):
        if len(writes) == 3:
            raise OSError(5, "Input/output error")  # the cable came out
        writes.append(remote)
        real_write(self, remote, data)

    monkeypatch.setattr(deploy.DriveTarget, "write", unplugged_after_three)
    with pytest.raises(OSError):
        deploy.deploy(deploy.DriveTarget(drive), new_src, [model], progress=lambda s: None)
    after = _tree(drive)
    assert {k: v for k, v in after.items() if not k.endswith(".part")} == before
    assert sum(k.endswith(".part") for k in after) == 3
    monkeypatch.setattr(deploy.DriveTarget, "write", real_write)
    said = []
    deploy.deploy(deploy.DriveTarget(drive), new_src, [model], progress=said.append)
    assert any("removed 3 .part" in s for s in said)
    final = _tree(drive)
    assert not any(k.endswith(".part") for k in final)
    assert (drive / "main.py").read_text().endswith("_VERSION = 2\n")


def test_not_a_circuitpython_drive(tmp_path, capsys):
    with pytest.raises(TinymlError, match="not a CircuitPython drive"):
        deploy.DriveTarget(tmp_path)
    assert cli.main(["deploy", "--drive", str(tmp_path)]) == 1
    assert "no boot_out.txt" in capsys.readouterr().err


def test_cli_deploy_to_drive(drive, model, capsys):
    assert cli.main(["deploy", "--drive", str(drive), "--model", str(model)]) == 0
    out = capsys.readouterr().out
    assert "circuitpython 9.2.1" in out and ".py files" in out and "verified by sha256" in out
