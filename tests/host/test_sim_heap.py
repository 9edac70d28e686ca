"""The virtual board with a board's heap: what its code finds free is what the unix port given
only that heap has free, although the port also holds the ROMFS partition and the simulated
sensors (a board keeps those in flash and in silicon)."""

import subprocess

import pytest

from tinyml_host import boards, cli
from tinyml_host.board import Board
from tinyml_host.errors import TinymlError
from tinyml_host.sim import MIN_HEAP, VirtualBoard, find_micropython, heap_size

_FREE = "import gc\ngc.collect()\nprint(gc.mem_free())"
# the largest bytearray the heap gives in one piece, to 1 KB
_PIECE = """
import gc
lo, hi = 0, gc.mem_free()
while hi - lo > 1024:
    mid = (lo + hi) // 2
    try:
        b = bytearray(mid)
        lo = mid
    except MemoryError:
        hi = mid
    b = None
    gc.collect()
print(lo)
"""


def _plain(heap, code):
    """What the unix port prints, started with -X heapsize=heap and nothing else."""
    done = subprocess.run([find_micropython(), "-X", f"heapsize={heap}", "-c", code], capture_output=True,
                          text=True, timeout=60, check=True)
    return int(done.stdout)


@pytest.mark.parametrize("board_id, partition", [("nano33_ble_sense", None), ("nano33_ble_sense", 401408),
                                                  ("pico", None)])
def test_free_heap_is_the_boards_whatever_the_partition(tmp_path, board_id, partition):
    heap = boards.load()[board_id]["heap"]["bytes"]
    with VirtualBoard(tmp_path / "flash", board=board_id, heap_bytes=heap, romfs_size=partition) as vb, \
            Board(vb.port) as b:
        assert vb.romfs_size == (partition or boards.load()[board_id]["romfs"]["bytes"])
        free = int(b.exec(_FREE))
        piece = int(b.exec(_PIECE))
    plain_free, plain_piece = _plain(heap, _FREE), _plain(heap, _PIECE)
    # the boot code's own bytecode is freed after boot; nothing else differs
    assert plain_free - 512 <= free <= plain_free + 2048, (free, plain_free)
    # in one piece as on the plain port, not split by holes the stand-ins' compiling left
    assert piece >= plain_piece - 2048, (piece, plain_piece)


def test_a_board_heap_refuses_what_it_cannot_hold(tmp_path):
    with VirtualBoard(tmp_path / "flash", board="pico", heap_bytes=65536) as vb, Board(vb.port) as b:
        out = b.exec("try:\n    x = bytearray(80000)\n    print('held')\nexcept MemoryError:\n    print('MemoryError')")
    assert out.strip() == "MemoryError"


def test_heap_option_values():
    assert heap_size(None, "pico") is None
    assert heap_size("board", "pico") == boards.load()["pico"]["heap"]["bytes"]
    assert heap_size("200000", "pico") == 200000
    with pytest.raises(TinymlError, match="number of bytes or 'board'"):
        heap_size("lots", "pico")
    with pytest.raises(TinymlError, match=f"at least {MIN_HEAP}"):
        VirtualBoard("unused", heap_bytes=1024)


def test_sim_command_rejects_a_bad_heap(capsys):
    assert cli.main(["sim", "--heap", "lots", "--flash", "/nonexistent/flash"]) == 1
    assert "--heap 'lots'" in capsys.readouterr().err


def test_available_backends_after_power_on_compiles_no_backend(tmp_path, model_file):
    """At power-on the board runs main.py, the sine app, which the host's Ctrl-C stops with its
    modules and model still in the heap (about 85 KB of the virtual Nano's 128 KB, 64-bit
    objects). Asking which backends this board runs must not import them there: viper's module
    is source, compiled on the board in large pieces, and tinyml.available_backends() raised
    MemoryError when it did (fine after a soft reset, where main.py does not run)."""
    from tinyml_host import deploy

    flash = tmp_path / "flash"
    with VirtualBoard(flash, romfs_size=0) as vb, Board(vb.port) as b:
        deploy.deploy(b, deploy.DEVICE, [model_file], progress=lambda line: None)
    heap = boards.load()["nano33_ble_sense"]["heap"]["bytes"]
    ask = ("import gc, sys, tinyml\ngc.collect()\nfree, used = gc.mem_free(), gc.mem_alloc()\n"
           "b = tinyml.available_backends()\ngc.collect()\n"
           "print(repr((b, free, gc.mem_alloc() - used, 'tinyml.apps.sine' in sys.modules, "
           "[m for m in ('tinyml._viper', 'tinyml._python') if m in sys.modules])))")
    with VirtualBoard(flash, board="nano33_ble_sense", romfs_size=0, heap_bytes=heap) as vb, Board(vb.port) as b:
        backends, free, cost, app_ran, imported = b.eval_repr(ask)
        assert app_ran and free < heap // 2, "main.py's app is not in the heap: the case this test is for"
        assert {"viper", "python"} <= set(backends)
        assert cost < 1024 and imported == []
        # each is imported by the first load that uses it (after a soft reset: main.py does not run)
        b.soft_reset()
        out = b.exec("import tinyml\nfor k in tinyml.available_backends():\n"
                     "    print(k, tinyml.load('sine.tmdl', k).selftest())")
    assert [line.split()[0] for line in out.splitlines()] == list(backends)
    assert all(line.endswith("(16, 16)") for line in out.splitlines()), out
