"""`tinyml firmware` / `make firmware`: the commands it runs, its checks, and a run with stand-in
tools (the real build needs the network and minutes: docs/firmware.md says what was built by hand)."""

from __future__ import annotations

import os
import shutil
import stat
import struct
import subprocess
from pathlib import Path

import pytest

from tinyml_host import cli, firmware
from tinyml_host.boards import load as load_boards
from tinyml_host.errors import TinymlError

ROOT = Path(__file__).resolve().parents[2]
BUILDABLE = [b for b, v in load_boards().items() if v["micropython_build"]["port"] != "esp32"]


@pytest.mark.parametrize("board", BUILDABLE)
def test_each_board_builds_with_the_module_and_no_cmake_args_on_the_command_line(board, tmp_path):
    p = firmware.plan(board, out_dir=tmp_path)
    build = load_boards()[board]["micropython_build"]
    assert p.steps[0].argv[:5] == ["git", "clone", "--depth", "1", "--branch"] and firmware.RELEASE in p.steps[0].argv
    make = p.steps[-1].argv
    assert make[:3] == ["make", "-C", str(tmp_path / f"micropython-{firmware.RELEASE}" / "ports" / build["port"])]
    assert f"BOARD={build['board']}" in make
    modules = [a for a in make if a.startswith("USER_C_MODULES=")]
    # rp2 is CMake: it takes the .cmake file; nrf is make: the folder holding micropython/micropython.mk
    want = ROOT / "native" / "micropython" / "micropython.cmake" if build["port"] == "rp2" else ROOT / "native"
    assert modules == [f"USER_C_MODULES={want}"] and want.exists()
    # the rp2 trap: CMAKE_ARGS on make's command line replaces the Makefile's own, USER_C_MODULES with it
    assert not any(a.startswith("CMAKE_ARGS") for step in p.steps for a in step.argv)
    assert p.out.parent == tmp_path and p.out.suffix == Path(build["file"]).suffix
    assert str(p.out) in p.flash
    if build["port"] == "nrf":
        assert any(s.argv[-1] == build["softdevice"] for s in p.steps), "the SoftDevice the board needs"


def _tree(tmp_path: Path, romfs_option: bool) -> Path:
    """A MicroPython tree as far as the plan looks at it."""
    rp2 = tmp_path / "mp" / "ports" / "rp2"
    rp2.mkdir(parents=True)
    (tmp_path / "mp" / "py").mkdir()
    (rp2 / "CMakeLists.txt").write_text("set(MICROPY_HW_ROMFS_BYTES 0)\n" if romfs_option else "project(micropython)\n")
    return tmp_path / "mp"


@pytest.mark.parametrize("romfs_option", [True, False])
def test_rp2_romfs_goes_in_the_environment_in_the_form_the_tree_understands(tmp_path, romfs_option):
    p = firmware.plan("pico", _tree(tmp_path, romfs_option), romfs_bytes=327680, out_dir=tmp_path)
    assert p.steps[0].argv[0] == "make"   # a tree was given: no clone
    want = "-DMICROPY_HW_ROMFS_BYTES=327680" if romfs_option else "-DTINYML_ROMFS_BYTES=327680"
    assert p.steps[-1].env == {"CMAKE_ARGS": want}
    assert p.steps[-1].shell().startswith(f"CMAKE_ARGS={want} make ")


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
def test_our_cmake_turns_tinyml_romfs_bytes_into_the_c_define_every_firmware_source_sees(tmp_path):
    # a stand-in for the port's CMake: an `usermod` INTERFACE library that a firmware target links,
    # as MicroPython's py/usermod.cmake does; our micropython.cmake's definition must reach main.c
    (tmp_path / "main.c").write_text("#ifndef MICROPY_HW_ROMFS_BYTES\n#error no ROMFS size\n#endif\n"
                                     "int romfs_bytes(void) { return MICROPY_HW_ROMFS_BYTES; }\n")
    cmake = ROOT / "native" / "micropython" / "micropython.cmake"
    (tmp_path / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(fw C)\nadd_library(usermod INTERFACE)\n"
        f"include({cmake.as_posix()})\nadd_library(firmware OBJECT main.c)\n"
        "target_link_libraries(firmware usermod)\n"
        # py/mkrules.cmake's qstr scan preprocesses with these defines, not the target's interface ones
        'message(STATUS "qstr defines: ${MICROPY_CPP_DEF_EXTRA}")\n')
    build = tmp_path / "build"
    proc = subprocess.run(["cmake", "-S", str(tmp_path), "-B", str(build), "-DTINYML_ROMFS_BYTES=327680",
                           "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON"], check=True, capture_output=True, text=True)
    commands = (build / "compile_commands.json").read_text()
    assert "main.c" in commands and "-DMICROPY_HW_ROMFS_BYTES=327680" in commands
    assert "qstr defines: MICROPY_HW_ROMFS_BYTES=327680" in proc.stdout


def test_bad_requests_are_refused_with_the_reason(tmp_path):
    with pytest.raises(TinymlError, match="unknown board 'nano'.*nano33_ble_sense"):
        firmware.plan("nano", out_dir=tmp_path)
    with pytest.raises(TinymlError, match="on nrf the ROMFS partition is set by the board's linker script"):
        firmware.plan("nano33_ble_sense", romfs_bytes=65536, out_dir=tmp_path)
    with pytest.raises(TinymlError, match="positive multiple of 4096"):
        firmware.plan("pico", romfs_bytes=5000, out_dir=tmp_path)
    with pytest.raises(TinymlError, match="ESP-IDF.*make -C .*ports/esp32 BOARD=ESP32_GENERIC"):
        firmware.run(firmware.plan("esp32", out_dir=tmp_path))


def _tool(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_a_clone_without_network_says_so_and_leaves_nothing(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("make", "cmake", "arm-none-eabi-gcc"):
        _tool(bin_dir, tool, "exit 0\n")
    _tool(bin_dir, "git", "echo 'fatal: unable to access: Could not resolve host' >&2; exit 128\n")
    monkeypatch.setenv("PATH", str(bin_dir))
    p = firmware.plan("pico", out_dir=tmp_path / "out")
    with pytest.raises(TinymlError, match=r"clone MicroPython v1\.28\.0 failed \(exit 128\) \(no network\? MICROPYTHON_DIR="):
        firmware.run(p, progress=lambda s: None)
    assert not p.out.exists()


def test_without_git_it_names_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TinymlError, match="git not found: a firmware build needs git, make"):
        firmware.run(firmware.plan("pico", out_dir=tmp_path / "out"), progress=lambda s: None)


def test_a_build_leaves_the_flashable_file_in_out_and_says_how_to_flash_it(tmp_path, monkeypatch, capsys):
    # stand-in make and git: the build "succeeds" and leaves the file where the port's would be
    tree = _tree(tmp_path, romfs_option=False)
    build = load_boards()["pico"]["micropython_build"]
    artefact = tree / "ports" / "rp2" / build["build_dir"] / build["file"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _tool(bin_dir, "make", f'mkdir -p "{artefact.parent}" && printf UF2 > "{artefact}"\n')
    for tool in ("git", "cmake", "arm-none-eabi-gcc"):
        _tool(bin_dir, tool, "exit 0\n")
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + os.environ["PATH"])
    monkeypatch.setattr(firmware, "OUT", tmp_path / "out")
    assert cli.main(["firmware", "pico", "--micropython-dir", str(tree)]) == 0
    out = capsys.readouterr().out
    made = tmp_path / "out" / "pico-micropython-custom-tinyml.uf2"
    assert made.read_bytes() == b"UF2"
    assert out.count("firmware with _tinyml:") == 1 and str(made) in out and "hold BOOTSEL" in out


def test_dry_run_prints_the_commands_and_runs_nothing(capsys):
    assert cli.main(["firmware", "nano33_ble_sense", "--dry-run"]) == 0
    # commands folded to the terminal's width continue with a backslash: one command a line again
    out = capsys.readouterr().out.replace(" \\\n    ", " ").replace("\n#   ", " ").splitlines()
    assert out[0].startswith("git clone --depth 1 --branch v1.28.0 ")
    assert any("USER_C_MODULES=" in line and "BOARD=ARDUINO_NANO_33_BLE_SENSE" in line for line in out)
    assert out[-1].startswith("# then copy ") and "bossac" in out[-1]


def _rp2_image(code_bytes: int, romfs_start: int, romfs_size: int) -> bytes:
    """A firmware image of code_bytes whose binary info declares a ROMFS block device, laid out as
    the pico-sdk's bi_block_device entry is: u16 type, u16 tag, u32 name, u32 address, u32 size."""
    image = bytearray(code_bytes)
    image[100:106] = b"ROMFS\0"
    entry = struct.pack("<HHIII", 6, 0x4D50, firmware.XIP_BASE + 100, firmware.XIP_BASE + romfs_start, romfs_size)
    image[200:200 + len(entry)] = entry
    return bytes(image)


def test_an_rp2_firmware_below_its_romfs_passes_and_one_reaching_into_it_is_refused():
    code_space = 655360   # RPI_PICO: 2 MB flash less the 1,408 KB filesystem
    firmware.check_rp2_romfs(_rp2_image(300_000, code_space - 327680, 327680))
    with pytest.raises(TinymlError, match=r"firmware \(346,324 bytes\) reaches into the ROMFS partition that starts "
                                          r"327,680 bytes into flash.*--romfs-bytes 307200 or less"):
        firmware.check_rp2_romfs(_rp2_image(346_324, code_space - 327680, 327680))
    with pytest.raises(TinymlError, match="no ROMFS partition entry"):
        firmware.check_rp2_romfs(bytes(1000))
