"""deploy, run, info, bench and repl against the virtual board, with the real mpremote transport."""

import ast
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tinyml_host import deploy, prebuilt, reference, tmdl
from tinyml_host.board import Board

ROOT = Path(__file__).resolve().parents[2]


def _builtin_native() -> bool:
    """Whether the virtual board's firmware has _tinyml built in (a TINYML_MICROPYTHON build with
    the module; the PyPI unix port has none): then deploy installs no .mpy."""
    from tinyml_host.sim import find_micropython

    proc = subprocess.run([find_micropython(), "-c", "import _tinyml"], capture_output=True, text=True,
                          env={**os.environ, "MICROPYPATH": ".frozen"})
    return proc.returncode == 0


NATIVE_FIRMWARE = _builtin_native()


def _flash_hashes(vb):
    return {p.relative_to(vb.flash_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in vb.flash_dir.rglob("*") if p.is_file()}


def cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "tinyml_host.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def test_deploy_copies_compiles_and_runs(vboard, model_file):
    with Board(vboard.port) as board:
        result = deploy.deploy(board, deploy.DEVICE, [model_file], progress=lambda s: None)
        assert "lib/tinyml/model.mpy" in result["copied"] and "main.py" in result["copied"]
        assert "lib/tinyml/_viper.py" in result["copied"]  # viper stays source
        # the PyPI unix port (x64) gets the shipped x64 module; a firmware with _tinyml built in none
        assert ("lib/_tinyml.mpy" in result["copied"]) is not NATIVE_FIRMWARE
        out = board.exec("import tinyml\nm = tinyml.load('sine.tmdl')\nprint(m.backend, m.selftest())",
                         soft_reset=True)
    assert out.split() == ["native", "(16,", "16)"]
    flash = vboard.flash_dir
    assert (flash / "sine.tmdl").read_bytes() == model_file.read_bytes()
    assert (flash / "main.py").read_bytes() == (deploy.DEVICE / "main.py").read_bytes()
    assert (flash / "lib/tinyml/model.mpy").read_bytes()[:1] == b"M"  # .mpy magic
    assert not list(flash.rglob("*.part"))


def test_second_deploy_copies_nothing_and_a_change_copies_one(vboard, model_file, tmp_path):
    source = tmp_path / "device"
    shutil.copytree(deploy.DEVICE, source, ignore=shutil.ignore_patterns("__pycache__"))
    with Board(vboard.port) as board:
        deploy.deploy(board, source, [model_file], progress=lambda s: None)
        again = deploy.deploy(board, source, [model_file], progress=lambda s: None)
        assert again["copied"] == [] and again["unchanged"] > 5
        (source / "main.py").write_text((source / "main.py").read_text() + "\n# changed\n")
        third = deploy.deploy(board, source, [model_file], progress=lambda s: None)
    assert third["copied"] == ["main.py"]
    assert (vboard.flash_dir / "main.py").read_text().endswith("# changed\n")


def test_stale_py_is_removed_when_mpy_replaces_it(vboard, model_file):
    (vboard.flash_dir / "lib" / "tinyml").mkdir(parents=True)
    (vboard.flash_dir / "lib" / "tinyml" / "model.py").write_text("raise ImportError('old copy')\n")
    with Board(vboard.port) as board:
        result = deploy.deploy(board, deploy.DEVICE, [model_file], progress=lambda s: None)
    assert "lib/tinyml/model.py" in result["removed"]
    assert not (vboard.flash_dir / "lib" / "tinyml" / "model.py").exists()


def test_deploy_killed_halfway_keeps_old_files_and_next_deploy_completes(vboard, model_file, tmp_path):
    old_src, new_src = tmp_path / "old", tmp_path / "new"
    for src in (old_src, new_src):
        shutil.copytree(deploy.DEVICE, src, ignore=shutil.ignore_patterns("__pycache__"))
    for path in new_src.rglob("*.py"):  # every module changes in the new version, bytecode too
        path.write_text(path.read_text() + "\n_DEPLOY_TEST_VERSION = 2\n")
    with Board(vboard.port) as board:
        deploy.deploy(board, old_src, [model_file], progress=lambda s: None)
    before = _flash_hashes(vboard)

    proc = subprocess.Popen([sys.executable, "-m", "tinyml_host.cli", "deploy", "--port", vboard.port,
                             "--source", str(new_src), "--model", str(model_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    writes = 0
    deadline = time.monotonic() + 60
    while writes < 4 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        writes += line.startswith("  write ")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert writes == 4, "the deploy ended before it could be interrupted"

    after_kill = _flash_hashes(vboard)
    assert {k: v for k, v in after_kill.items() if not k.endswith(".part")} == before  # old files intact
    assert any(k.endswith(".part") for k in after_kill)  # it really was interrupted while copying
    with Board(vboard.port) as board:
        assert board.exec("import tinyml\nprint(tinyml.load('sine.tmdl').selftest())",
                          soft_reset=True).strip() == "(16, 16)"  # the old version still works

    done = cli("deploy", "--port", vboard.port, "--source", str(new_src), "--model", str(model_file))
    assert done.returncode == 0, done.stderr
    assert "removed" in done.stdout and ".part" in done.stdout
    final = _flash_hashes(vboard)
    assert not any(k.endswith(".part") for k in final)
    assert (vboard.flash_dir / "main.py").read_text().endswith("_DEPLOY_TEST_VERSION = 2\n")
    assert final != before


def test_circuitpython_gets_source_files(model_file):
    files = deploy.plan(deploy.DEVICE, [model_file], compile_to_mpy=False)
    assert {f.remote for f in files} >= {"lib/tinyml/model.py", "main.py", "sine.tmdl"}
    assert not any(f.remote.endswith(".mpy") for f in files)
    major, sub = deploy.mpy_cross_version()
    assert deploy.can_load_our_mpy(major | (sub << 8))
    assert not deploy.can_load_our_mpy((major - 1) | (3 << 8))
    assert not deploy.can_load_our_mpy(0)  # CircuitPython-style: no _mpy


def test_run_info_bench_against_the_board(vboard, model_file, tmp_path):
    with Board(vboard.port) as board:
        deploy.deploy(board, deploy.DEVICE, [model_file], progress=lambda s: None)
    script = tmp_path / "s.py"
    script.write_text("import tinyml\nm = tinyml.load('sine.tmdl')\nprint('Y', m.predict(1.5))\n")
    run = cli("run", str(script), "--port", vboard.port)
    assert run.returncode == 0, run.stderr
    y = float(run.stdout.split("Y", 1)[1])
    model = tmdl.read(model_file)
    assert abs(y - float(reference.predict(model, [1.5])[0, 0])) < 1e-6

    info = cli("info", "--port", vboard.port)
    assert info.returncode == 0, info.stderr
    assert "micropython" in info.stdout and "sine.tmdl" in info.stdout and "free RAM" in info.stdout
    assert "board      nano33_ble_sense (" in info.stdout  # the virtual board's simulated identity
    # deploy installed the shipped x64 module (or the firmware has its own): info says which backend runs
    where = "built into the firmware" if NATIVE_FIRMWARE else "lib/_tinyml.mpy"
    assert f"({where}): backend native" in info.stdout

    out_dir = tmp_path / "bench"
    bench = cli("bench", "--port", vboard.port, "--out", str(out_dir), "--invokes", "50")
    assert bench.returncode == 0, bench.stderr
    rows = __import__("json").loads((out_dir / "board.json").read_text())
    assert {r["backend"] for r in rows} >= {"viper", "python"}
    assert all(r["alloc"] == 0 and r["selftest"] == "16/16" and r["us"] > 0 and r["ram"] > 0 for r in rows)
    assert "us / invoke" in bench.stdout


def test_repl_has_the_model_loaded(vboard, model_file):
    import pexpect

    with Board(vboard.port) as board:
        deploy.deploy(board, deploy.DEVICE, [model_file], progress=lambda s: None)
    child = pexpect.spawn(sys.executable, ["-m", "tinyml_host.cli", "repl", "--port", vboard.port],
                          cwd=str(ROOT), timeout=30, encoding="utf-8")
    try:
        child.expect("m.predict")
        child.expect("Use Ctrl-]")  # mpremote's repl is attached; type as a user would
        child.sendline("m.predict(1.57)")
        child.expect(r"\n(-?\d+\.\d+)\r?\n")  # the answer on a line of its own
        got = float(child.match.group(1))
        child.sendcontrol("]")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    want = float(reference.predict(tmdl.read(model_file), [1.57])[0, 0])
    assert abs(got - want) < 1e-6  # the board dequantizes in double, the reference in float32


def test_no_board_is_a_clear_error(tmp_path, monkeypatch):
    proc = cli("info", "--port", str(tmp_path / "no-such-port"))
    assert proc.returncode == 1 and "cannot open board" in proc.stderr and "Traceback" not in proc.stderr


def _fake_mpy(arch: str, version: int = 6, sub: int = 3) -> bytes:
    return bytes([ord("M"), version, (prebuilt.MPY_ARCHS.index(arch) << 2) | sub, 31]) + b"\0" * 16


def test_native_mpy_installed_only_for_the_matching_architecture(tmp_path):
    board_x64 = {"mpy": 6 | (3 << 8) | (2 << 10), "native_builtin": False}
    good, wrong = tmp_path / "good.mpy", tmp_path / "wrong.mpy"
    good.write_bytes(_fake_mpy("x64"))
    wrong.write_bytes(_fake_mpy("armv7emsp"))
    said = []
    assert deploy.native_module_for(board_x64, good, said.append).remote == "lib/_tinyml.mpy"
    assert deploy.native_module_for(board_x64, wrong, said.append) is None
    assert "armv7emsp" in said[-1] and "ARCH=x64" in said[-1]
    assert deploy.native_module_for({**board_x64, "native_builtin": True}, good, said.append) is None
    assert deploy.native_module_for(board_x64, tmp_path / "absent.mpy", said.append) is None


@pytest.mark.parametrize("arch", ["x64", "armv6m", "armv7emsp", "rv32imc"])
def test_a_fresh_clone_installs_the_shipped_module_of_the_boards_architecture(arch, monkeypatch, tmp_path):
    monkeypatch.setattr(deploy, "NATIVE_MPY", tmp_path / "not-built.mpy")  # no build of the user's own
    entry = prebuilt.manifest()["modules"][arch]
    board = {"mpy": entry["mpy_version"] | (entry["mpy_sub_version"] << 8) | (prebuilt.MPY_ARCHS.index(arch) << 10),
             "native_builtin": False}
    sent = deploy.native_module_for(board, deploy.SHIPPED, lambda s: None)
    assert sent.remote == "lib/_tinyml.mpy"
    assert prebuilt.mpy_header(sent.data)["arch"] == arch and sent.sha256 == entry["sha256"]


def test_info_before_deploy_says_the_board_runs_viper_until_deploy_installs_the_module(vboard):
    if NATIVE_FIRMWARE:
        pytest.skip("this firmware has _tinyml built in: there is no before")
    info = cli("info", "--port", vboard.port)
    assert info.returncode == 0, info.stderr
    assert "no _tinyml yet: backend viper; `tinyml deploy` installs the prebuilt x64 module" in info.stdout


def test_an_esp32_gets_no_module_and_is_told_why(monkeypatch, tmp_path):
    monkeypatch.setattr(deploy, "NATIVE_MPY", tmp_path / "not-built.mpy")
    said = []
    esp32 = {"mpy": 6 | (3 << 8) | (prebuilt.MPY_ARCHS.index("xtensawin") << 10), "native_builtin": False}
    assert deploy.native_module_for(esp32, deploy.SHIPPED, said.append) is None
    assert "xtensa-esp32-elf-gcc" in said[-1] and "viper" in said[-1]


def test_deploy_installs_a_built_native_module(vboard, model_file, tmp_path):
    # A stand-in file with a real x64 header: deploy must copy it where the runtime imports it from.
    natmod = tmp_path / "_tinyml.mpy"
    natmod.write_bytes(_fake_mpy("x64"))
    with Board(vboard.port) as board:
        result = deploy.deploy(board, deploy.DEVICE, [model_file], progress=lambda s: None, native_mpy=natmod)
    if NATIVE_FIRMWARE:  # _tinyml is built into this firmware: a .mpy would only shadow nothing
        assert "lib/_tinyml.mpy" not in result["copied"]
        return
    assert "lib/_tinyml.mpy" in result["copied"]
    assert (vboard.flash_dir / "lib" / "_tinyml.mpy").read_bytes() == natmod.read_bytes()


def test_busy_board_is_a_clear_error(vboard):
    with Board(vboard.port):  # another program holds the port (mpremote opens it exclusively)
        proc = cli("info", "--port", vboard.port)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"cannot open board at {vboard.port}" in proc.stderr and "in use" in proc.stderr
