"""native/core/pdm_nrf52.c: the nRF52840 PDM capture, without the chip.

Cross-compiled for the Cortex-M4 with NRF52840_XXAA (as MicroPython's nrf port defines it)
under -Wall -Wextra -Wpedantic -Werror, then run under Unicorn with the PDM and GPIO register
pages mapped as plain memory: a small model of the peripheral here latches SAMPLE.PTR at each
STARTED and writes each block where the PDM's EasyDMA would. The portable build (no define)
must say it was not built for this chip. What this cannot show is the real peripheral's
timing or the microphone: built, not run on a board (docs/boards.md).
"""

import ctypes
import struct
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "native" / "tools"))
import crossrun  # noqa: E402

CORE = Path(__file__).resolve().parents[2] / "native" / "core"
EXPORTS = ("tml_pdm_start", "tml_pdm_poll", "tml_pdm_take", "tml_pdm_stop")
PDM, GPIO0 = 0x4001D000, 0x50000000
TML_ERR_UNSUPPORTED = -9
N = 32


@pytest.fixture(scope="module")
def nrf(tmp_path_factory):
    try:
        crossrun.gcc("cortex-m4")
        crossrun._unicorn()
    except crossrun.ToolMissing as e:
        pytest.fail(str(e), pytrace=False)
    out = tmp_path_factory.mktemp("pdm")
    wrapper = out / "pdm_nrf52840.c"
    wrapper.write_text(f'#define NRF52840_XXAA 1\n#include "{CORE / "pdm_nrf52.c"}"\n')
    return crossrun.build("cortex-m4", out, exports=EXPORTS, sources=[wrapper])


class Peripheral:
    """The PDM and P0 register pages, and the part of the PDM the driver relies on: START
    latches SAMPLE.PTR/MAXCNT and raises STARTED; a finished block raises END, latches the
    PTR written since, raises STARTED again."""

    def __init__(self, m):
        self.m = m
        m.uc.mem_map(PDM, 0x1000)
        m.uc.mem_map(GPIO0, 0x1000)
        self.latched = None
        self.count = 0   # samples written so far

    def reg(self, base, off):
        return struct.unpack("<I", self.m.read(base + off, 4))[0]

    def set(self, off, value):
        self.m.uc.mem_write(PDM + off, struct.pack("<I", value))

    def start_task(self):
        assert self.reg(PDM, 0x000) == 1   # TASKS_START
        self.set(0x000, 0)
        self.latched = self.reg(PDM, 0x560)
        self.set(0x100, 1)

    def block(self):
        n = self.reg(PDM, 0x564)
        samples = [(self.count + k) * 7 % 65536 - 32768 for k in range(n)]
        self.m.uc.mem_write(self.latched, struct.pack(f"<{n}h", *samples))
        self.count += n
        self.set(0x108, 1)                 # END
        self.latched = self.reg(PDM, 0x560)
        self.set(0x100, 1)                 # STARTED
        return samples


def test_nrf52840_build_sets_up_the_pdm_and_double_buffers(nrf):
    m = crossrun.Machine(nrf, "cortex-m4")
    hw = Peripheral(m)
    state = m.put(bytes(64))
    buf0, buf1, out = m.put(bytes(2 * N)), m.put(bytes(2 * N)), m.put(bytes(2 * N))
    assert m.call("tml_pdm_start", state, buf0, buf1, N, 26, 25, 17) == 0
    # the microphone powered: P0.17 driven high (OUTSET, PIN_CNF output)
    assert hw.reg(GPIO0, 0x508) == 1 << 17 and hw.reg(GPIO0, 0x700 + 4 * 17) == 3
    assert hw.reg(GPIO0, 0x700 + 4 * 26) == 3 and hw.reg(GPIO0, 0x700 + 4 * 25) == 0
    # 1.280 MHz, RATIO 80: 16 kHz; mono; 0 dB; pins; no interrupts; enabled; buf0 first
    assert [hw.reg(PDM, off) for off in (0x504, 0x520, 0x508, 0x518, 0x51C, 0x540, 0x544, 0x300, 0x500)] == [
        0x0A000000, 1, 1, 0x28, 0x28, 26, 25, 0, 1]
    assert (hw.reg(PDM, 0x560), hw.reg(PDM, 0x564)) == (buf0, N)
    hw.start_task()
    assert m.call("tml_pdm_poll", state) == -1       # nothing full yet; STARTED seen
    assert hw.reg(PDM, 0x560) == buf1                # the next transfer goes to buf1

    def read():
        assert m.call("tml_pdm_take", state, out) == 0
        return list(struct.unpack(f"<{N}h", m.read(out, 2 * N)))

    def lost():
        return struct.unpack_from("<I", m.read(state, 64), 20)[0]

    # the app keeps up: every block in order, each from the buffer EasyDMA has left
    for k in range(6):
        samples = hw.block()
        assert m.call("tml_pdm_poll", state) == k % 2
        assert hw.reg(PDM, 0x560) == (buf0, buf1)[k % 2]   # the one just read is next but one
        assert read() == samples
    assert m.call("tml_pdm_take", state, out) == -5  # TML_ERR_SIZE: nothing waits
    assert lost() == 0
    # the app misses a block: the waiting one is overwritten, counted as lost, the newer one read
    hw.block()
    m.call("tml_pdm_poll", state)
    newer = hw.block()
    assert m.call("tml_pdm_poll", state) >= 0
    assert read() == newer and lost() == 1
    # away for three blocks without polling: PTR names the buffer EasyDMA is in, so it stays
    # there; the driver hands over the other buffer, intact (not torn) and the block right after
    # the last one read. The two overwritten after it go uncounted: polled, `lost` is a lower
    # bound (tml_pdm.h); an END interrupt would count them
    first = hw.block()
    hw.block()
    hw.block()
    i = m.call("tml_pdm_poll", state)
    assert hw.latched != (buf0, buf1)[i]
    assert read() == first and lost() == 1
    nxt = hw.block()
    m.call("tml_pdm_poll", state)
    assert read() == nxt
    # stop: STOP task, then disabled, pins disconnected, microphone off
    hw.set(0x104, 1)                                 # STOPPED (the peripheral's answer)
    m.call("tml_pdm_stop", state)
    assert hw.reg(PDM, 0x004) == 1 and hw.reg(PDM, 0x500) == 0
    assert hw.reg(PDM, 0x540) == hw.reg(PDM, 0x544) == 0xFFFFFFFF
    assert hw.reg(GPIO0, 0x50C) == 1 << 17           # OUTCLR P0.17
    assert m.call("tml_pdm_poll", state) == -1


def test_nrf52840_build_checks_its_arguments(nrf):
    m = crossrun.Machine(nrf, "cortex-m4")
    Peripheral(m)
    state = m.put(bytes(64))
    b0, b1 = m.put(bytes(2 * N)), m.put(bytes(2 * N))
    assert m.call("tml_pdm_start", state, 0, b1, N, 26, 25, 17) == -1          # NULL
    assert m.call("tml_pdm_start", state, b0, b1, N - 1, 26, 25, 17) == -5     # odd count
    assert m.call("tml_pdm_start", state, b0, b0, N, 26, 25, 17) == -5         # one buffer twice
    assert m.call("tml_pdm_start", state, b0 + 2, b1, N, 26, 25, 17) == -6     # not word-aligned
    assert m.call("tml_pdm_start", state, b0, b1, N, 26, 26, 17) == -4         # clk == din
    assert m.call("tml_pdm_start", state, b0, b1, N, 48, 25, -1) == -4         # no such pin
    assert m.call("tml_pdm_start", state, b0, b1, N, 26, 25, -1) == 0          # no power pin


def test_pdm_file_compiles_cleanly_for_the_nrf52840_and_elsewhere(tmp_path):
    gcc = crossrun.gcc("cortex-m4")
    for defs in (["-DNRF52840_XXAA"], ["-DTINYML_PDM_NRF52"], []):
        obj = tmp_path / "pdm.o"
        subprocess.run([gcc, "-mthumb", "-mcpu=cortex-m4", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror",
                        *defs, f"-I{CORE}", "-c", str(CORE / "pdm_nrf52.c"), "-o", str(obj)], check=True)
        syms = subprocess.run(["arm-none-eabi-nm", str(obj)], capture_output=True, text=True, check=True).stdout
        assert all(f" T {name}" in syms for name in EXPORTS), (defs, syms)


def test_portable_build_says_it_was_not_built_for_this_chip(tmp_path):
    lib = tmp_path / "pdm.so"
    subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", f"-I{CORE}",
                    str(CORE / "pdm_nrf52.c"), "-o", str(lib)], check=True)
    so = ctypes.CDLL(str(lib))
    state, buf = ctypes.create_string_buffer(64), ctypes.create_string_buffer(64)
    assert so.tml_pdm_start(state, buf, buf, 16, 26, 25, 17) == TML_ERR_UNSUPPORTED
    assert so.tml_pdm_poll(state) == -1
    assert so.tml_pdm_take(state, buf) == TML_ERR_UNSUPPORTED
