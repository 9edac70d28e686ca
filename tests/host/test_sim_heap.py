"""The virtual board with a board's heap: the unix port's -X heapsize, the ROMFS partition on top."""

import pytest

from tinyml_host import boards, cli
from tinyml_host.board import Board
from tinyml_host.errors import TinymlError
from tinyml_host.sim import MIN_HEAP, VirtualBoard, heap_size

_HEAP = "import gc\ngc.collect()\nprint((gc.mem_free() + gc.mem_alloc(), gc.mem_free()))"


@pytest.mark.parametrize("board_id", ["nano33_ble_sense", "pico"])
def test_heap_is_the_boards_plus_the_partition_it_holds(tmp_path, board_id):
    facts = boards.load()[board_id]
    heap, partition = facts["heap"]["bytes"], facts["romfs"]["bytes"]
    with VirtualBoard(tmp_path / "flash", board=board_id, heap_bytes=heap) as vb, Board(vb.port) as b:
        assert vb.heap_args() == ["-X", f"heapsize={heap + partition}"]
        total, free = b.eval_repr(_HEAP)
    # the GC's own tables take a little of -X heapsize; what is left for objects is just under it
    assert 0.95 * (heap + partition) < total <= heap + partition
    # after the partition's bytes and the boot code, about the board's heap remains, never more
    assert 0.85 * heap < free <= heap


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
