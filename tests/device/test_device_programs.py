"""The device modules the host calls on a board (tinyml.info, tinyml.bench) and the serial
telemetry link `tinyml monitor --port` runs apps with, in the real micropython binary."""

import hashlib
import os
import subprocess

import numpy as np
import pytest

import models
from mpy import ROOT, lines_with, micropypath, run
from tinyml_host import export, reference, romfs, tmdl


def _env(tmp_path, board="nano33_ble_sense"):
    return {"MICROPYPATH": micropypath(ROOT / "device"), "TINYML_BOARD": board,
            "TINYML_SIM_DIR": str(tmp_path)}


@pytest.fixture(scope="module")
def sine_model():
    tflite = models.sine_tflite()
    model = export.convert(tflite)
    export.add_vectors(model, tflite, count=8)  # golden outputs from TFLite's interpreter
    return model


# --- tinyml.info -------------------------------------------------------------------------------

def test_file_hashes_match_sha256_across_the_read_chunk(tmp_path):
    """Files around the 256-byte read buffer's edges hash as CPython's hashlib says; a missing
    one is None."""
    sizes = (0, 1, 255, 256, 257, 512, 1000)
    rng = np.random.default_rng(5)
    for n in sizes:
        (tmp_path / f"f{n}.bin").write_bytes(rng.integers(0, 256, n, dtype=np.uint8).tobytes())
    paths = [f"f{n}.bin" for n in sizes] + ["missing.bin"]
    out = run(f"from tinyml import info\nfor p, h in info.file_hashes({paths!r}).items():\n    print('H', p, h)",
              cwd=tmp_path)
    got = dict(line.split() for line in lines_with("H", out))
    want = {p: hashlib.sha256((tmp_path / p).read_bytes()).hexdigest() for p in paths[:-1]}
    assert got == {**want, "missing.bin": "None"}


def test_board_facts_on_the_virtual_board(tmp_path):
    out = run("import tinyml\nfrom tinyml import info\nb = info.board()\n"
              "print('B', b['implementation'], b['platform'], b['board_id'], b['native'], b['free_ram'] > 0)\n"
              "print('N', 'native' in tinyml.available_backends())\n"
              "print('V', len(b['version']), b['mpy'] & 0xFF)",
              cwd=tmp_path, env=_env(tmp_path, "pico_w"))
    implementation, platform, board_id, native, ram = lines_with("B", out)[0].split()
    assert (implementation, platform, board_id, ram) == ("micropython", "linux", "pico_w", "True")
    # _tinyml's variant exactly when the native backend is there
    assert (native != "None") == (lines_with("N", out) == ["True"])
    # (major, minor, micro); .mpy files of format 6, what MicroPython 1.19 and later load (docs: reference/mpyfiles)
    assert lines_with("V", out) == ["3 6"]


def test_board_facts_leave_the_heap_as_they_found_it(tmp_path):
    """Board.call runs info.py's source on a board that has not imported tinyml: board() imports
    the package to learn the board's id, then drops it again, so that the commands a deploy runs
    next on the same heap have it back (on the 64-bit port the package takes about 70 KB)."""
    source = (ROOT / "device" / "lib" / "tinyml" / "info.py").read_text()
    out = run(source + "\nimport gc, sys, micropython\ngc.collect()\nfree = gc.mem_free()\n"
              "micropython.qstr_info()\nb = board()\ngc.collect()\nmicropython.qstr_info()\n"
              "print('M', [m for m in sys.modules if m.startswith('tinyml')])\n"
              "print('F', b['board_id'], b['free_ram'] - free, free - gc.mem_free())",
              cwd=tmp_path, env=_env(tmp_path))
    assert lines_with("M", out) == ["[]"]
    board_id, reported, kept = lines_with("F", out)[0].split()
    assert board_id == "nano33_ble_sense"
    # free RAM as it was before board() looked (its own call frame aside)
    assert abs(int(reported)) <= 1024, reported
    # what stays: the names the imports interned (MicroPython never frees a qstr), the dict
    # board() returns and _tinyml's module object (x64 native code lies outside the heap)
    before, after = (int(line.rsplit("n_total_bytes=", 1)[1]) for line in lines_with("qstr pool:", out))
    assert int(kept) - (after - before) <= 4096, (kept, after - before)


def _micropython():
    from tinyml_host.sim import find_micropython

    return find_micropython()


def test_board_id_is_none_for_a_board_not_in_boards_json(tmp_path):
    out = run("from tinyml import info\nprint('ID', info.board()['board_id'])", cwd=tmp_path,
              env=_env(tmp_path, "no_such_board"))
    assert lines_with("ID", out) == ["None"]


FAKE_VFS = """
import sys
class Block:  # a partition as a block device (nrf, rp2, esp32 ports)
    def __init__(self, count, size):
        self.count, self.size = count, size
    def ioctl(self, op, arg):
        return {4: self.count, 5: self.size}[op]
class FakeVfs:
    def __init__(self, partitions, dev):
        self.partitions, self.dev = partitions, dev
    def rom_ioctl(self, op, *args):
        return self.partitions if op == 1 else self.dev
def use(partitions, dev):
    sys.modules['vfs'] = FakeVfs(partitions, dev)
"""


def test_romfs_partition_as_mpremote_sizes_it(tmp_path):
    """The partition's size from each form vfs.rom_ioctl(2, 0) takes (mpremote's romfs query
    reads it the same way): a buffer, a block device, an error code; none without rom_ioctl."""
    script = FAKE_VFS + """
from tinyml import info
print('NONE', info.romfs()['size'], info.romfs()['mounted'])
use(0, None)
print('EMPTY', info.romfs()['size'])
use(1, -19)
print('ERR', info.romfs()['size'])
use(1, Block(12, 4096))
print('BLOCK', info.romfs()['size'])
buf = bytearray(bytes(range(256)) * 40)
use(1, buf)
print('BUF', info.romfs()['size'], info.romfs_sha256(1000))
use(0, None)
try:
    info.romfs_sha256(10)
except ValueError as e:
    print('NOPART', e)
"""
    out = run(script, cwd=tmp_path)
    assert lines_with("NONE", out) == ["None False"]  # the unix port's vfs has no rom_ioctl
    assert lines_with("EMPTY", out) == ["0"] and lines_with("ERR", out) == ["0"]
    assert lines_with("BLOCK", out) == [str(12 * 4096)]
    size, digest = lines_with("BUF", out)[0].split()
    assert int(size) == 256 * 40
    assert digest == hashlib.sha256((bytes(range(256)) * 40)[:1000]).hexdigest()
    assert lines_with("NOPART", out) == ["this board has no ROMFS partition"]


def test_models_lists_the_filesystem_and_rom(tmp_path, sine_model):
    """.tmdl files at the top of the board's filesystem, then /rom's, as `tinyml info` lists them."""
    flash = tmp_path / "flash"
    flash.mkdir()
    data = tmdl.encode(sine_model)
    (flash / "sine.tmdl").write_bytes(data)
    (flash / "notes.txt").write_text("not a model")
    (tmp_path / "rom").mkdir()
    (tmp_path / "rom" / "motion.tmdl").write_bytes(data)
    image, _ = romfs.build_from([tmp_path / "rom" / "motion.tmdl"])
    (tmp_path / "image.romfs").write_bytes(image)
    script = f"""
import os, vfs
from tinyml import info  # imported while the host's / (and device/lib) is still mounted
image = open({str(tmp_path / 'image.romfs')!r}, 'rb').read()
os.umount('/')
os.mount(vfs.VfsPosix({str(flash)!r}), '/')  # the flash folder as the board's /, as the sim does
print('FS', info.models())
vfs.mount(vfs.VfsRom(image), '/rom')
print('ROM', info.models(), info.romfs()['mounted'])
"""
    out = run(script, cwd=tmp_path)
    assert lines_with("FS", out) == ["['sine.tmdl']"]
    assert lines_with("ROM", out) == ["['sine.tmdl', '/rom/motion.tmdl'] True"]


# --- tinyml.bench ------------------------------------------------------------------------------

def test_bench_rows_for_every_backend_without_allocation(tmp_path, sine_model):
    (tmp_path / "sine.tmdl").write_bytes(tmdl.encode(sine_model))
    out = run("import tinyml\nfrom tinyml import bench\nprint('ROWS', bench.models(['sine.tmdl'], 20))\n"
              "print('BACKENDS', tinyml.available_backends())", cwd=tmp_path)
    import ast

    rows = ast.literal_eval(lines_with("ROWS", out)[0])
    backends = ast.literal_eval(lines_with("BACKENDS", out)[0])
    # each backend twice: its weights in RAM, then streamed (load(path, stream=True))
    assert [(r["backend"], r["way"]) for r in rows] == [(b, way) for b in backends for way in ("RAM", "streamed")]
    assert all(r["model"] == "sine.tmdl" for r in rows)
    for r in rows[1::2]:   # streamed: one read per layer's block of weights (sine: 3 layers of one block each)
        assert (r["reads"], r["read_bytes"]) == (3, sum(l.weights.size for l in sine_model.layers)), r
    golden = len(sine_model.vectors_in)
    assert golden == 8
    for r in rows:
        assert r["selftest"] == f"{golden}/{golden}", r  # TFLite's own outputs, bit-exact
        assert r["alloc"] == 0, r                        # nothing allocated per inference
        assert r["us"] > 0 and r["ram"] > 0, r


def test_bench_duty_skips_apps_whose_model_is_absent(tmp_path, sine_model):
    out = run("from tinyml import bench\nprint('ROWS', bench.duty([('motion', {'inferences': 1}), "
              "('sine', {'cycles': 1, 'period_ms': 5})], 'idle'))", cwd=tmp_path, env=_env(tmp_path))
    assert lines_with("ROWS", out) == ["[]"]
    (tmp_path / "sine.tmdl").write_bytes(tmdl.encode(sine_model))
    out = run("from tinyml import bench\nrows = bench.duty([('motion', {'inferences': 1}), "
              "('sine', {'cycles': 1, 'period_ms': 5})], 'idle')\n"
              "print('APPS', [r['app'] for r in rows])\nr = rows[0]\n"
              "print('DUTY', r['board'], r['wait'], r['wakeups'], r['asleep_ms'] + r['awake_ms'])",
              cwd=tmp_path, env=_env(tmp_path))
    assert lines_with("APPS", out) == ["['sine']"]
    board, wait, wakeups, total_ms = lines_with("DUTY", out)[0].split()
    # one sweep: 64 inferences paced 5 ms apart (a late one starts the next period), about 320 ms
    assert (board, wait) == ("nano33_ble_sense", "idle") and int(wakeups) >= 1 and int(total_ms) >= 300


# --- tinyml.telemetry, link="serial" -----------------------------------------------------------

def _run_with_stdin(script, stdin: bytes, tmp_path, timeout=120):
    env = {**os.environ, **_env(tmp_path)}
    proc = subprocess.run([str(_micropython()), "-c", script], input=stdin, cwd=tmp_path, env=env,
                          capture_output=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
    return proc.stdout


def test_sine_app_over_the_serial_link(tmp_path, sine_model):
    """Frames as text lines on stdout, commands from stdin answered OK/ERR, on the app's own
    seq; x and y as the host's reference computes them."""
    (tmp_path / "sine.tmdl").write_bytes(tmdl.encode(sine_model))
    out = _run_with_stdin("from tinyml import apps\napps.run('sine', cycles=1, period_ms=0, telemetry='serial')",
                          b"rate 25\nled blue\nled off\n", tmp_path)
    lines = out.decode().splitlines()
    replies = [line for line in lines if line.startswith(("OK", "ERR"))]
    assert replies == ["OK rate", "ERR usage: led on|off", "OK led"]
    rows = np.array([[float(v) for v in line.split(",")] for line in lines if line[:1].isdigit()])
    assert rows.shape == (64, 4) and rows[:, 0].tolist() == list(range(1, 65))
    x = 2 * np.pi * np.arange(64) / 64
    np.testing.assert_allclose(rows[:, 1], x, atol=1e-3)
    np.testing.assert_allclose(rows[:, 2], reference.predict(sine_model, x).reshape(-1), rtol=5e-4, atol=5e-5)
    # the commands are read after the first frame's duty was set, before it went out
    assert rows[0, 3] > 0 and (rows[1:, 3] == 0).all()


def test_serial_link_reads_nothing_without_allocating_and_refuses_binary(tmp_path):
    script = """
import gc
from tinyml import telemetry
t = telemetry.start('x', link='serial')
def allocated(n):  # in a function: at module level, new globals grow the globals dict
    t.poll()
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(n):
        t.poll()
    return gc.mem_alloc() - before
print('ALLOC', allocated(2000))
for kwargs in ({'binary': True, 'link': 'serial'}, {'link': 'usb'}):
    try:
        telemetry.start('x', **kwargs)
    except ValueError as e:
        print('REFUSED', e)
"""
    # stdin open and empty, as a board's USB serial with nobody typing: the pipe stays open
    # until the script has ended by itself (a watchdog kills it otherwise)
    import threading

    env = {**os.environ, **_env(tmp_path)}
    proc = subprocess.Popen([str(_micropython()), "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=tmp_path, env=env)
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    try:
        out, err = proc.stdout.read(), proc.stderr.read()
    finally:
        watchdog.cancel()
        proc.stdin.close()
        proc.wait(timeout=60)
    text = out.decode()
    assert proc.returncode == 0, text + err.decode()
    assert lines_with("ALLOC", text) == ["0"]
    assert lines_with("REFUSED", text) == [
        "the serial link carries text frames only: a byte stream keeps no frame boundaries",
        "unknown telemetry link 'usb'; known: 'serial' (None: the board's BLE)"]
