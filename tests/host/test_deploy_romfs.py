"""`tinyml deploy --romfs` against the virtual board: models into /rom through mpremote's romfs
deploy, verified by reading back; interrupted and failed writes found and redone."""

import subprocess
import sys
from pathlib import Path

import pytest

from tinyml_host import deploy, romfs, tmdl
from tinyml_host.board import Board
from tinyml_host.errors import TinymlError
from tinyml_host.sim import VirtualBoard

ROOT = Path(__file__).resolve().parents[2]
QUIET = dict(progress=lambda s: None)


def cli(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "tinyml_host.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


LOAD_FROM_ROM = """
import tinyml, uctypes
from tinyml import apps
m = tinyml.load('/rom/sine.tmdl')
view = memoryview(open('/rom/sine.tmdl', 'rb'))
print(m.selftest(), uctypes.addressof(view) % 4, apps.model_path('sine.tmdl'))
"""


def test_deploy_romfs_writes_verifies_and_the_model_runs_from_rom(vboard, model_file):
    done = cli("deploy", "--port", vboard.port, "--romfs", "--model", str(model_file))
    assert done.returncode == 0, done.stderr
    assert "ROMFS image deployed" in done.stdout and "/rom verified by sha256 (1 file(s))" in done.stdout
    image, placements = deploy.romfs_image([model_file])
    assert vboard.romfs_image.read_bytes()[:len(image)] == image
    assert not (vboard.flash_dir / "sine.tmdl").exists()  # the model went to flash, not the filesystem
    assert (vboard.flash_dir / "main.py").exists()        # the package did go to the filesystem
    with Board(vboard.port) as board:
        out = board.exec(LOAD_FROM_ROM, soft_reset=True)
        # the file's data is 4-byte aligned in the partition, so its int32 sections can be used in place
        assert out.split() == ["(16,", "16)", "0", "/rom/sine.tmdl"]
        again = deploy.deploy_romfs(board, [model_file], **QUIET)
    assert again["written"] is False and again["files"] == ["/rom/sine.tmdl"]
    info = cli("info", "--port", vboard.port)
    assert "ROMFS      262144 byte partition, mounted at /rom" in info.stdout
    assert "/rom/sine.tmdl" in info.stdout


def test_interrupted_romfs_deploy_is_a_clear_error_then_redone(vboard, model_file, tmp_path):
    image, _ = deploy.romfs_image([model_file])
    # what a deploy cut off after its first bytes leaves: the start of the image, then no more
    partial = tmp_path / "partial.romfs"
    partial.write_bytes(image[:len(image) // 2])
    subprocess.run([sys.executable, "-m", "mpremote", "connect", vboard.port, "romfs", "deploy", str(partial)],
                   check=True, capture_output=True, timeout=60)
    with Board(vboard.port) as board:
        deploy.deploy(board, deploy.DEVICE, [], **QUIET)
        with pytest.raises(TinymlError, match="corrupt .tmdl: CRC32"):
            board.exec("import tinyml\ntinyml.load('/rom/sine.tmdl')", soft_reset=True)
        lines = []
        result = deploy.deploy_romfs(board, [model_file], progress=lines.append)
        assert result["written"] is True
        assert "  /rom holds a different or incomplete image: writing" in lines
        assert board.exec(LOAD_FROM_ROM, soft_reset=True).split()[:2] == ["(16,", "16)"]


def test_writes_that_silently_fail_are_caught_by_reading_back(vboard, model_file, monkeypatch):
    # mpremote reports "ROMFS image deployed" whatever the board's write calls return
    monkeypatch.setattr(Board, "romfs_write", lambda self, image, progress=print: None)
    with Board(vboard.port) as board:
        with pytest.raises(TinymlError, match="partition read back differs from the image"):
            deploy.deploy_romfs(board, [model_file], **QUIET)


def test_a_model_on_a_missing_or_empty_rom_is_a_clear_error(tmp_path):
    for board_id, size in (("nano33_ble_sense", None), ("pico", None)):  # erased partition; no partition
        with VirtualBoard(tmp_path / board_id, board=board_id, romfs_size=size) as vb, Board(vb.port) as board:
            deploy.deploy(board, deploy.DEVICE, [], **QUIET)
            with pytest.raises(TinymlError, match=r"/rom/sine.tmdl: ROMFS is not mounted at /rom .*"
                                                  r"tinyml deploy --romfs"):
                board.exec("import tinyml\ntinyml.load('/rom/sine.tmdl')", soft_reset=True)


def test_a_model_missing_from_a_mounted_rom_is_named(vboard, model_file):
    with Board(vboard.port) as board:
        deploy.deploy(board, deploy.DEVICE, [], **QUIET)
        deploy.deploy_romfs(board, [model_file], **QUIET)
        with pytest.raises(TinymlError, match="/rom/motion.tmdl is not in /rom"):
            board.exec("import tinyml\ntinyml.load('/rom/motion.tmdl')", soft_reset=True)


def test_board_without_a_partition_gets_the_remedy(tmp_path, model_file):
    with VirtualBoard(tmp_path / "flash", board="pico") as vb:
        done = cli("deploy", "--port", vb.port, "--romfs", "--model", str(model_file))
    assert done.returncode == 1
    err = done.stderr
    assert "has no ROMFS support" in err and "MICROPY_HW_ROMFS_BYTES" in err
    assert "https://docs.micropython.org/en/latest/reference/romfs.html" in err


def test_image_too_big_names_both_sizes(vboard, tmp_path):
    big = tmp_path / "big.tmdl"
    big.write_bytes(bytes(300 * 1024))
    image, _ = romfs.build_from([big])
    with Board(vboard.port) as board:
        with pytest.raises(TinymlError, match=f"the ROMFS image is {len(image)} bytes, larger than the "
                                              f"board's 262144-byte ROMFS partition"):
            deploy.deploy_romfs(board, [big], **QUIET)


def _large_model(n_hidden=576):
    """Two layers, 256 -> n_hidden -> 256: about 290 KB of weights, more than the Nano's stock
    partition holds and more than twice its heap."""
    import numpy as np

    rng = np.random.default_rng(25)
    layers = []
    for n_in, n_out in ((256, n_hidden), (n_hidden, 256)):
        w = rng.integers(-128, 128, size=(n_out, n_in)).astype(np.int8)
        bias = rng.integers(-(1 << 16), 1 << 16, size=n_out).astype(np.int32)
        layers.append(tmdl.Layer(w, bias, np.array([1 << 30], np.int32), np.array([-12], np.int8), -128, 127, 3))
    return tmdl.TmdlModel.dense(layers, 0.05, 0, 0.1, 3)


def test_a_large_image_in_a_custom_partition_leaves_deploy_and_info_working(tmp_path):
    """The Nano's own heap and a 392 KB partition holding a 290 KB model: deploying it again and
    `tinyml info` work, and the model runs from /rom."""
    from tinyml_host import boards

    big = tmp_path / "big.tmdl"
    big.write_bytes(tmdl.encode(_large_model()))
    assert len(big.read_bytes()) > 290_000
    heap = boards.load()["nano33_ble_sense"]["heap"]["bytes"]
    with VirtualBoard(tmp_path / "flash", romfs_size=401408, heap_bytes=heap) as vb:
        first = cli("deploy", "--port", vb.port, "--romfs", "--model", str(big))
        assert first.returncode == 0, first.stderr
        assert "/rom holds a different or incomplete image: writing" in first.stdout
        again = cli("deploy", "--port", vb.port, "--romfs", "--model", str(big))
        assert again.returncode == 0, again.stderr
        assert "/rom already holds this image: nothing to write" in again.stdout
        info = cli("info", "--port", vb.port)
        assert info.returncode == 0, info.stderr
        assert "board      nano33_ble_sense" in info.stdout and "/rom/big.tmdl" in info.stdout
        assert "ROMFS      401408 byte partition, mounted at /rom" in info.stdout
        with Board(vb.port) as board:
            # the backend imported first (load imports it the first time): its code is not the model's RAM
            out = board.exec("import gc, tinyml\nfrom tinyml import model\nmodel._backend_module(None)\n"
                             "gc.collect()\na = gc.mem_alloc()\n"
                             "m = tinyml.load('/rom/big.tmdl')\ngc.collect()\n"
                             "m.invoke()\nprint(m.weights.replace(' ', '_'), gc.mem_alloc() - a)", soft_reset=True)
    weights, used = out.split()
    assert weights == "in_place" and int(used) < 16 * 1024, out
