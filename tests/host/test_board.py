"""Board's API on the virtual board: device modules called from the host's source, and a
program the host reads while it runs (launch, output, send_input, interrupt, stop_program)."""

import time

import pytest

from tinyml_host import deploy
from tinyml_host.board import Board


@pytest.fixture
def board(vboard):
    with Board(vboard.port) as b:
        yield b


def _read_all(board, until=None, seconds=20):
    """Everything the launched program prints until it ends (or `until` appears, then stop)."""
    text = b""
    deadline = time.monotonic() + seconds
    for chunk in board.output(poll_seconds=0.2):
        text += chunk
        if until is not None and until in text:
            break
        assert time.monotonic() < deadline, text
    return text.replace(b"\r\n", b"\n").decode()


def test_call_runs_the_hosts_module_source_whatever_the_board_holds(vboard, board):
    # a fresh board: no tinyml on it, yet tinyml.info answers (deploy asks before copying)
    facts = board.call("tinyml.info", "board()")
    assert facts["implementation"] == "micropython" and facts["board_id"] is None
    assert board.hashes(["lib/tinyml/info.py"]) == {"lib/tinyml/info.py": None}
    deploy.deploy(board, deploy.DEVICE, [], progress=lambda line: None)
    assert board.info()["board_id"] == "nano33_ble_sense"  # now tinyml.hal is there to ask
    # an older tinyml.info on the board does not answer instead of the host's
    (vboard.flash_dir / "lib" / "tinyml" / "info.mpy").unlink()
    (vboard.flash_dir / "lib" / "tinyml" / "info.py").write_text("def board():\n    return 'old'\n")
    board.soft_reset()
    assert board.info()["board_id"] == "nano33_ble_sense"
    assert board.call("tinyml.info", "1 + 1") == 2


def test_output_then_the_error_then_the_board_answers_again(board):
    board.launch("for i in range(3):\n    print('line', i)\nraise ValueError('boom')")
    assert _read_all(board) == "line 0\nline 1\nline 2\n"
    assert board.program_error.splitlines()[-1] == "ValueError: boom"
    # the raw REPL's prompt after the end may have been read with it: the next command still works
    assert board.exec("print(6 * 7)").strip() == "42"
    board.launch("print('clean')")
    assert _read_all(board) == "clean\n" and board.program_error == ""


def test_send_input_reaches_the_programs_stdin(board):
    board.launch("import sys\nprint('ready')\nline = sys.stdin.readline()\nprint('got', line.strip())")
    # the whole line: its "\r\n" may come in a later chunk than "ready", and would then lead the next read
    assert "ready\n" in _read_all(board, until=b"ready\r\n")
    board.send_input(b"led off\n")
    assert _read_all(board) == "got led off\n" and board.program_error == ""


def test_interrupt_and_stop_program_end_a_running_program(board):
    loop = "import time\nn = 0\nwhile True:\n    n += 1\n    print('tick', n)\n    time.sleep_ms(20)"
    board.launch(loop)
    assert "tick 3" in _read_all(board, until=b"tick 3")
    board.interrupt()
    _read_all(board)
    assert board.program_error.endswith("KeyboardInterrupt:")
    board.launch(loop)
    assert "tick 1" in _read_all(board, until=b"tick 1")
    board.stop_program(10)
    assert board.exec("print('after')").strip() == "after"
