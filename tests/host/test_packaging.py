"""package.json (mpremote mip) and manifest.py (freezing) cover the device package exactly."""

import json
from pathlib import Path

from tinyml_host import deploy

DEVICE = deploy.DEVICE
PACKAGE_FILES = sorted(p.relative_to(DEVICE / "lib").as_posix() for p in (DEVICE / "lib" / "tinyml").rglob("*.py"))


def test_package_json_lists_every_module_and_nothing_else():
    assert (DEVICE / "package.json").read_text() == deploy.package_json(), \
        "device/package.json is stale: run `tinyml boards --write`"
    pkg = json.loads((DEVICE / "package.json").read_text())
    assert sorted(dest for dest, _ in pkg["urls"]) == PACKAGE_FILES
    for dest, src in pkg["urls"]:
        # mip resolves relative sources against package.json's own location
        assert (DEVICE / src).read_bytes() == (DEVICE / "lib" / dest).read_bytes()


def test_manifest_freezes_the_package():
    calls = []
    namespace = {"package": lambda name, base_path=".", **kw: calls.append((name, base_path))}
    exec((DEVICE / "manifest.py").read_text(), namespace)
    assert calls == [("tinyml", "lib")]
    assert (DEVICE / "lib" / "tinyml" / "__init__.py").exists()


def test_deploy_leaves_packaging_files_on_the_host(tmp_path):
    import shutil

    source = tmp_path / "device"
    shutil.copytree(DEVICE, source)
    (source / "lib" / ".mypy_cache").mkdir()
    (source / "lib" / ".mypy_cache" / "cache.db").write_bytes(b"x" * 100)
    (source / ".main.py.swp").write_bytes(b"editor")
    files = {f.remote for f in deploy.plan(source, [], compile_to_mpy=False)}
    assert not any("mypy_cache" in f or f.endswith(".swp") for f in files)  # hidden files stay home
    assert "package.json" not in files and "manifest.py" not in files
    assert {"main.py", "lib/tinyml/model.py"} <= files


def test_mpremote_mip_installs_the_package_on_a_board(tmp_path):
    import subprocess
    import sys

    from tinyml_host.sim import VirtualBoard

    with VirtualBoard(tmp_path / "flash") as vb:
        # the same package.json serves `mpremote mip install github:OWNER/tinyml/device/package.json`
        proc = subprocess.run([sys.executable, "-m", "mpremote", "connect", vb.port, "mip", "install",
                               "--target", "/lib", str(DEVICE / "package.json")],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        installed = sorted(p.relative_to(vb.flash_dir / "lib").as_posix()
                           for p in (vb.flash_dir / "lib").rglob("*.py"))
        assert installed == PACKAGE_FILES
        out = subprocess.run([sys.executable, "-m", "mpremote", "connect", vb.port, "exec",
                              "import tinyml; print(tinyml.available_backends())"],
                             capture_output=True, text=True, timeout=60)
        assert "python" in out.stdout
