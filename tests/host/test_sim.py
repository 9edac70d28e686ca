"""The virtual board against the real mpremote: cp, ls, run, exec with soft reset, Ctrl-C."""

import subprocess
import sys
import time

import pytest

from tinyml_host.sim import VirtualBoard


@pytest.fixture
def vboard(tmp_path):
    with VirtualBoard(tmp_path / "flash") as vb:
        yield vb


def mpremote(vb, *args, timeout=30):
    proc = subprocess.run([sys.executable, "-m", "mpremote", "connect", vb.port, *args],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"mpremote {args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_cp_ls_and_files_land_in_flash(vboard, tmp_path):
    src = tmp_path / "data.bin"
    src.write_bytes(bytes(range(256)) * 5)
    mpremote(vboard, "cp", str(src), ":data.bin")
    assert (vboard.flash_dir / "data.bin").read_bytes() == src.read_bytes()
    assert "data.bin" in mpremote(vboard, "ls")
    mpremote(vboard, "mkdir", ":lib")
    mpremote(vboard, "cp", str(src), ":lib/copy.bin")
    assert "copy.bin" in mpremote(vboard, "ls", ":lib")
    assert (vboard.flash_dir / "lib" / "copy.bin").exists()
    back = tmp_path / "back.bin"
    mpremote(vboard, "cp", ":/data.bin", str(back))  # an absolute path is inside the flash too
    assert back.read_bytes() == src.read_bytes()
    mpremote(vboard, "rm", ":data.bin")
    assert not (vboard.flash_dir / "data.bin").exists()


def test_run_prints_script_output(vboard, tmp_path):
    script = tmp_path / "script.py"
    script.write_text("print('total', sum(i * i for i in range(10)))\n")
    assert f"total {sum(i * i for i in range(10))}" in mpremote(vboard, "run", str(script))


def test_exec_soft_resets_between_invocations(vboard):
    before = vboard.resets
    mpremote(vboard, "exec", "x = 1")
    assert mpremote(vboard, "exec", "print('x' in globals())").strip() == "False"
    assert vboard.resets >= before + 2
    # within one invocation mpremote soft-resets once, so state carries across chained commands
    out = mpremote(vboard, "exec", "y = 2", "+", "exec", "print('y' in globals())")
    assert out.strip() == "True"


def test_lib_on_sys_path_like_a_board(vboard, tmp_path):
    (vboard.flash_dir / "lib").mkdir()
    (vboard.flash_dir / "lib" / "helper.py").write_text("VALUE = 6 * 7\n")
    assert mpremote(vboard, "exec", "import helper; print(helper.VALUE)").strip() == "42"


def test_main_py_runs_after_soft_reset_in_friendly_repl(vboard):
    (vboard.flash_dir / "main.py").write_text("print('main ran')\n")
    from mpremote.transport_serial import SerialTransport

    t = SerialTransport(vboard.port)
    try:
        t.serial.write(b"\r\x03\x03\r\x02")  # friendly REPL
        t.read_until(1, b">>> ", timeout_overall=5)
        t.serial.write(b"\x04")  # soft reset there runs main.py, as on a board
        out = t.read_until(1, b"main ran", timeout_overall=10)
        assert b"MPY: soft reboot" in out and out.endswith(b"main ran")
    finally:
        t.close()


def test_ctrl_c_interrupts_a_running_program(vboard):
    from mpremote.transport_serial import SerialTransport

    t = SerialTransport(vboard.port)
    try:
        t.enter_raw_repl(soft_reset=True)
        t.exec_raw_no_follow("while True:\n    pass\n")
        time.sleep(0.3)
        t.serial.write(b"\x03")
        out, err = t.follow(timeout=10)
        assert b"KeyboardInterrupt" in err
        assert t.eval("6 * 7") == 42  # the board is still alive
        t.fs_writefile("w.txt", b"written through the transport API")
        assert t.fs_readfile("w.txt") == b"written through the transport API"
        t.exit_raw_repl()
    finally:
        t.close()


def test_board_survives_a_crash(vboard):
    # sys.exit() ends the unix process; a board would reset, so the virtual one restarts
    from mpremote.transport_serial import SerialTransport

    t = SerialTransport(vboard.port)
    try:
        t.enter_raw_repl(soft_reset=False)
        t.exec_raw_no_follow("import sys; sys.exit(3)")
        t.read_until(1, b">>> ", timeout_overall=10)
        t.enter_raw_repl(soft_reset=False)
        assert t.eval("1 + 1") == 2
        t.exit_raw_repl()
    finally:
        t.close()


def test_tinyml_sim_command_serves_mpremote(tmp_path):
    import signal

    proc = subprocess.Popen([sys.executable, "-m", "tinyml_host.cli", "sim", "--flash", str(tmp_path / "flash")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        deadline = time.monotonic() + 30
        while port is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("port: "):
                port = line.split()[1]
        assert port and port.startswith("/dev/pts/")
        out = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, "exec", "print(6 * 7)"],
                             capture_output=True, text=True, timeout=30)
        assert out.stdout.strip() == "42"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
    assert proc.returncode == 0


def test_unknown_board_is_refused(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tinyml_host.cli", "sim", "--board", "arduino_uno",
                           "--flash", str(tmp_path)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and "unknown board 'arduino_uno'" in proc.stderr
