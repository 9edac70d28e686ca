"""The virtual board's ROMFS partition against the real `mpremote romfs` CLI."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tinyml_host import romfs
from tinyml_host.errors import TinymlError
from tinyml_host.sim import VirtualBoard

HOST = Path(__file__).resolve().parents[2] / "host"
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(HOST), os.environ.get("PYTHONPATH")])))
TIMEOUT = 60
NANO_PARTITION = 256 * 1024  # ports/nrf/boards/nrf52840_1M_256k.ld


def mpremote(vb, *args, check=True):
    proc = subprocess.run([sys.executable, "-m", "mpremote", "connect", vb.port, *args],
                          capture_output=True, text=True, timeout=TIMEOUT)
    if check:
        assert proc.returncode == 0, f"mpremote {args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def image_file(tmp_path, files, name="models.romfs"):
    image, _ = romfs.build(files)
    path = tmp_path / name
    path.write_bytes(image)
    return path, image


def test_query_shows_the_stock_partition_of_the_simulated_board(tmp_path):
    with VirtualBoard(tmp_path / "flash") as vb:  # Nano 33 BLE Sense
        out = mpremote(vb, "romfs", "query").stdout
        assert f"ROMFS0 partition has size {NANO_PARTITION} bytes (64 blocks of 4096 bytes each)" in out
        assert "Not a valid ROMFS" in out  # erased flash at first
        assert vb.romfs_image.stat().st_size == NANO_PARTITION
    with VirtualBoard(tmp_path / "pico", board="pico") as vb:  # stock rp2: no ROMFS at all
        assert "ROMFS is not enabled on this device" in mpremote(vb, "romfs", "query").stdout
        assert mpremote(vb, "exec", "import os; print('rom' in os.listdir('/'))").stdout.strip() == "False"


def test_deploy_lands_in_the_image_file_and_mounts_at_rom_after_reset(tmp_path):
    files = {"sine.tmdl": bytes(range(200)) * 3, "lib/helper.py": b"VALUE = 6 * 7\n"}
    path, image = image_file(tmp_path, files)
    with VirtualBoard(tmp_path / "flash") as vb:
        out = mpremote(vb, "romfs", "deploy", str(path)).stdout
        assert "ROMFS image deployed" in out
        assert vb.romfs_image.read_bytes()[:len(image)] == image  # the partition is the image file
        # mpremote soft-resets before its next command: /rom is mounted as at power-on
        out = mpremote(vb, "exec", "import os, sys, helper\nprint(sorted(os.listdir('/rom')), sys.path[-2:], "
                                   "helper.VALUE, len(open('/rom/sine.tmdl', 'rb').read()))").stdout
        assert out.strip() == "['lib', 'sine.tmdl'] ['/rom', '/rom/lib'] 42 600"
        assert "ROMFS image size" in mpremote(vb, "romfs", "query").stdout
        (vb.flash_dir / "sine.tmdl").write_bytes(b"on the filesystem")  # the filesystem keeps working
        assert mpremote(vb, "exec", "print(open('sine.tmdl').read())").stdout.strip() == "on the filesystem"
    with VirtualBoard(tmp_path / "flash") as vb:  # a power cycle: flash keeps the image
        assert mpremote(vb, "exec", "import os; print(os.listdir('/rom'))").stdout.strip() == "['lib', 'sine.tmdl']"


def test_an_image_too_big_for_the_partition_is_refused_naming_both_sizes(tmp_path):
    path, image = image_file(tmp_path, {"big.bin": bytes(70000)})
    with VirtualBoard(tmp_path / "flash", romfs_size=65536) as vb:
        proc = mpremote(vb, "romfs", "deploy", str(path), check=False)
        assert proc.returncode == 1
        assert f"Image size is {len(image)} bytes" in proc.stdout
        assert "ROMFS0 partition has size 65536 bytes" in proc.stdout
        assert "too big for the target partition" in proc.stdout
        # a writer that does not check first is stopped by the partition itself
        proc = mpremote(vb, "exec", "import vfs\nvfs.rom_ioctl(2, 0).writeblocks(15, bytes(8192), 0)", check=False)
        assert proc.returncode == 1
        assert ("ROMFS partition is 65536 bytes: writing 8192 bytes at offset 61440 would end at 69632"
                in proc.stderr + proc.stdout)
    # the image file of a bigger partition, on a board started with a smaller one
    with VirtualBoard(tmp_path / "big", romfs_size=131072) as vb:
        mpremote(vb, "romfs", "deploy", str(path))
    with pytest.raises(TinymlError, match=f"is {len(image)} bytes, larger than the 65536-byte partition"):
        VirtualBoard(tmp_path / "big", romfs_size=65536).start()


def test_custom_partition_size_on_a_board_without_one(tmp_path):
    path, image = image_file(tmp_path, {"m.tmdl": b"x" * 1000})
    with VirtualBoard(tmp_path / "flash", board="pico", romfs_size=8192) as vb:
        assert "ROMFS0 partition has size 8192 bytes" in mpremote(vb, "romfs", "query").stdout
        mpremote(vb, "romfs", "deploy", str(path))
        assert mpremote(vb, "exec", "print(len(open('/rom/m.tmdl').read()))").stdout.strip() == "1000"
    with pytest.raises(TinymlError, match="not a multiple of the 4096-byte flash page"):
        VirtualBoard(tmp_path / "odd", romfs_size=5000)


def test_flash_bits_only_clear_without_an_erase(tmp_path):
    with VirtualBoard(tmp_path / "flash", romfs_size=8192) as vb:
        out = mpremote(vb, "exec", "import vfs\nd = vfs.rom_ioctl(2, 0)\nd.ioctl(6, 1)\n"
                                   "d.writeblocks(1, b'\\x0f\\xff', 0)\nd.writeblocks(1, b'\\xf0\\x3c', 0)\n"
                                   "print(bytes(memoryview(d)[4096:4099]))").stdout
        assert out.strip() == r"b'\x00<\xff'"
        assert vb.romfs_image.read_bytes()[4096:4099] == b"\x00<\xff"


def test_tinyml_sim_refuses_a_partition_size_that_is_not_whole_pages(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tinyml_host.cli", "sim", "--romfs-size", "5000",
                           "--flash", str(tmp_path / "flash")], capture_output=True, text=True,
                          timeout=TIMEOUT, env=ENV)
    assert proc.returncode == 1
    assert "ROMFS partition size 5000 is not a multiple of the 4096-byte flash page" in proc.stderr
