"""The shipped _tinyml.mpy files (native/prebuilt/): built from the C sources in this tree, of
the architecture and .mpy version their manifest says, and the x64 one runs in MicroPython."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "native" / "tools"))
sys.path.insert(0, str(ROOT / "tests" / "device"))

import natmods  # noqa: E402


def test_the_shipped_modules_were_built_from_these_sources():
    shipped = natmods.manifest()["sources_sha256"]
    assert natmods.sources_sha256() == shipped, (
        "the C sources (native/core, native/micropython/modtinyml.c, Makefile) changed since the shipped "
        f"native/prebuilt/*/_tinyml.mpy were built: rebuild them with `{natmods.REBUILD}` and commit them")


def test_the_hash_changes_with_any_c_source(tmp_path, monkeypatch):
    # the check above is only worth something if an edit to any compiled file moves the hash
    before = natmods.sources_sha256()
    copy = tmp_path / "native"
    for p in natmods.source_files():
        dst = copy / p.relative_to(natmods.NATIVE)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(p.read_bytes())
    monkeypatch.setattr(natmods, "ROOT", tmp_path)
    monkeypatch.setattr(natmods, "NATIVE", copy)
    assert natmods.sources_sha256() == before
    for p in natmods.source_files():
        original = p.read_bytes()
        p.write_bytes(original + b"\n")
        assert natmods.sources_sha256() != before, f"{p.name} is not covered by the hash"
        p.write_bytes(original)


def test_every_buildable_architecture_is_shipped_and_matches_its_manifest():
    manifest = natmods.manifest()
    assert sorted(manifest["modules"]) == sorted(natmods.ARCHS)
    for arch, entry in manifest["modules"].items():
        data = (natmods.PREBUILT / arch / "_tinyml.mpy").read_bytes()
        assert len(data) == entry["size"] and hashlib.sha256(data).hexdigest() == entry["sha256"], arch
        header = natmods.mpy_header(data)
        assert header["arch"] == arch
        assert (header["mpy_version"], header["mpy_sub_version"]) == (entry["mpy_version"], entry["mpy_sub_version"])
    assert manifest["abi"] == natmods.abi()
    assert "xtensawin" in manifest["not_buildable"]


def test_each_architecture_has_a_mip_package_that_installs_its_module():
    import json

    for arch in natmods.manifest()["modules"]:
        package = json.loads((natmods.PREBUILT / arch / "package.json").read_text())
        # mip resolves a relative source against the package.json's own URL and installs into /lib
        assert package["urls"] == [["_tinyml.mpy", "_tinyml.mpy"]], arch
        assert package["version"] == f"abi{natmods.abi()}"


def test_the_x64_module_loads_in_the_pypi_micropython_and_is_the_abi_the_runtime_needs(tmp_path):
    from mpy import lines_with, run

    folder = natmods.PREBUILT / "x64"
    out = run("import sys\nsys.path.append(%r)\nimport _tinyml\nimport tinyml._native as n\n"
              "print('A', _tinyml.ABI, n._ABI, hex(sys.implementation._mpy))" % str(folder))
    abi, runtime_abi, mpy = lines_with("A", out)[0].split()
    assert int(abi) == natmods.manifest()["abi"] == int(runtime_abi)
    assert natmods.for_board(int(mpy, 16)) == folder / "_tinyml.mpy"


@pytest.mark.parametrize("arch", ["armv6m", "armv7emsp", "rv32imc"])
def test_a_board_gets_the_module_of_its_architecture(arch):
    code = natmods.MPY_ARCHS.index(arch)
    entry = natmods.manifest()["modules"][arch]
    mpy = entry["mpy_version"] | (entry["mpy_sub_version"] << 8) | (code << 10)
    assert natmods.for_board(mpy) == natmods.PREBUILT / arch / "_tinyml.mpy"
    # another .mpy major version, or an ESP32 (no shipped module): none
    assert natmods.for_board(mpy + 1) is None
    assert natmods.for_board(entry["mpy_version"] | (3 << 8) | (natmods.MPY_ARCHS.index("xtensawin") << 10)) is None
