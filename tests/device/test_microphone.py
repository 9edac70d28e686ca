"""The microphone in the HAL: each backend against a fake of its platform's exact API
(machine.I2S, audiobusio.PDMIn), in the runtime it runs in; samples, lost blocks, allocation."""

import sys
from pathlib import Path

import numpy as np
import pytest

from mpy import DEVICE_LIB, lines_with, run
from tinyml_host import boards

FAKES = Path(__file__).parent / "fakes"
BLOCK = 64


def slot(n):
    """What the fake INMP441 sends for sample n: a 24-bit two's complement value (a ramp that
    crosses zero and reaches both ends of the range) at the top of a 32-bit slot, low byte 0."""
    s24 = ((n * 40961) % (1 << 24)) - (1 << 23)
    return (s24 << 8) & 0xFFFFFFFF


def expected_int16(first, count):
    # the data sheet's 24-bit sample, its upper 16 bits: an arithmetic shift of the signed value
    s24 = ((np.arange(first, first + count, dtype=np.int64) * 40961) % (1 << 24)) - (1 << 23)
    return (s24 >> 8).astype(np.int16).tolist()


I2S_SCRIPT = f"""
import sys, gc
sys.path.insert(0, {str(FAKES)!r})
import machine
from array import array
def slot(n):
    s24 = ((n * 40961) % (1 << 24)) - (1 << 23)
    return (s24 << 8) & 0xFFFFFFFF
machine.I2S.source = slot
from tinyml.boards import BOARDS
from tinyml.hal import _machine
mic = _machine.microphone(BOARDS[BOARD]['mic'], {BLOCK})
mic.start()
print('LOG', machine.log[-1])
block = array('h', bytes(2 * {BLOCK}))
mic.readinto(block)
print('B0', list(block), mic.lost)
mic.readinto(block)
print('B1', list(block), mic.lost)
# the app away for three buffers' time: two complete blocks wait, the older ones are dropped
i2s = machine.I2S.live[0]
for _ in range(3):
    i2s.dma()
    gc.collect()   # a pending-check point: the scheduled callback runs
mic.readinto(block)
print('B2', list(block), mic.lost)
def blocks(n):   # in a function: a new global (the loop variable) would grow the globals dict
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(n):
        mic.readinto(block)
    return gc.mem_alloc() - before
print('ALLOC', blocks(50), mic.lost)
mic.stop()
print('STOP', machine.log[-1], machine.I2S.live)
"""


@pytest.mark.parametrize("board", ["esp32", "esp32s3", "pico", "pico_w", "pico2_w"])
def test_i2s_microphone_reads_the_inmp441_slot_as_int16(board):
    out = run(f"BOARD = {board!r}\n" + I2S_SCRIPT)
    mic = boards.load()[board]["microphone"]["micropython"]
    # machine.I2S(id, sck, ws, sd, RX=0, bits 32, MONO=0, 16 kHz, ibuf: 4 blocks of 32-bit slots)
    assert lines_with("LOG", out) == [str(("I2S", mic["id"], mic["sck"], mic["ws"], mic["sd"], 0, 32, 0, 16000,
                                           4 * 4 * BLOCK))]
    first = lines_with("B0", out)[0]
    assert first == f"{expected_int16(0, BLOCK)} 0"
    assert lines_with("B1", out)[0] == f"{expected_int16(BLOCK, BLOCK)} 0"
    # blocks 2, 3, 4 captured while the app was away: each new full buffer replaced the unread
    # one before it (2 by 3, 3 by 4), so the app gets the newest, block 4, and 2 were lost
    b2 = lines_with("B2", out)[0]
    assert b2 == f"{expected_int16(4 * BLOCK, BLOCK)} 2"
    assert lines_with("ALLOC", out) == ["0 2"]
    assert lines_with("STOP", out)[0] == f"('I2S.deinit', {mic['id']}) []"


def test_machine_backend_says_why_a_board_has_no_microphone():
    out = run(f"""
import sys
sys.path.insert(0, {str(FAKES)!r})
from tinyml.boards import BOARDS
from tinyml.hal import _machine
for board in ('nano33_ble_sense', 'nano33_ble_sense_rev2'):
    try:
        _machine.microphone(BOARDS[board]['mic'], 64)
    except ValueError as e:
        print('ERR', e)
try:
    _machine.microphone((None, None), 64)
except ValueError as e:
    print('ERR', e)
""")
    errs = lines_with("ERR", out)
    assert len(errs) == 3
    assert all("_tinyml's nRF52840 PDM capture" in e for e in errs[:2])
    assert "no microphone under MicroPython" in errs[2]


def test_readinto_checks_its_buffer_and_the_start():
    out = run(f"""
import sys
sys.path.insert(0, {str(FAKES)!r})
from array import array
from tinyml.boards import BOARDS
from tinyml.hal import _machine
mic = _machine.microphone(BOARDS['pico']['mic'], 64)
for buf in (array('h', bytes(128)), array('h', bytes(100))):
    try:
        mic.readinto(buf)
    except ValueError as e:
        print('ERR', e)
mic.start()
try:
    mic.readinto(array('h', bytes(100)))
except ValueError as e:
    print('ERR', e)
""")
    assert lines_with("ERR", out) == ["microphone not started: call start() first",
                                      "microphone readinto needs an array('h') of 64 samples, got 50",
                                      "microphone readinto needs an array('h') of 64 samples, got 50"]


def test_pico_i2s_pins_suit_the_rp2_port():
    # rp2's machine.I2S drives SCK and WS as PIO side-set pins: ws must be sck + 1
    for board, facts in boards.load().items():
        mic = facts["microphone"]["micropython"]
        if facts["mcu"].startswith("RP") and mic is not None:
            assert mic["interface"] == "i2s" and mic["ws"] == mic["sck"] + 1, board


def _circuitpython_backend(monkeypatch, board):
    monkeypatch.syspath_prepend(str(FAKES))
    import importlib

    import circuitpython as cp

    mic = boards.load()[board]["microphone"]["circuitpython"]
    names = [mic[k] for k in ("clock", "data", "power") if mic[k]]
    attrs = {n: f"pin:{n}" for n in names}
    for name, module in cp.modules(attrs).items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.syspath_prepend(str(DEVICE_LIB))
    from tinyml.boards import BOARDS

    cp.PDMIn.made.clear()
    cp.DigitalInOut.made.clear()
    monkeypatch.setattr(cp.PDMIn, "source", staticmethod(lambda n: (n * 7919) % 65536))
    monkeypatch.setattr(cp.PDMIn, "short_by", 0)
    backend = importlib.reload(importlib.import_module("tinyml.hal._circuitpython"))
    return cp, backend, BOARDS[board]["mic"], mic


@pytest.mark.parametrize("board", ["nano33_ble_sense", "nano33_ble_sense_rev2", "pico", "pico_w", "pico2_w"])
def test_pdmin_microphone_records_16_bit_and_counts_what_it_misses(board, monkeypatch):
    from array import array

    cp, backend, facts, mic_facts = _circuitpython_backend(monkeypatch, board)
    mic = backend.microphone(facts, BLOCK)
    mic.start()
    pdm = cp.PDMIn.made[-1]
    assert (pdm.clock_pin, pdm.data_pin, pdm.sample_rate, pdm.bit_depth, pdm.mono) == (
        f"pin:{mic_facts['clock']}", f"pin:{mic_facts['data']}", 16000, 16, True)
    powered = {d.pin for d in cp.DigitalInOut.made if d.direction == "output" and d.value}
    assert powered == ({f"pin:{mic_facts['power']}"} if mic_facts["power"] else set())

    block = array("h", bytes(2 * BLOCK))
    mic.readinto(block)
    # unsigned 16-bit samples with silence at 32768, as signed int16
    assert list(block) == [(n * 7919) % 65536 - 32768 for n in range(BLOCK)]
    assert mic.lost == 0
    # the app takes 10 ms (160 samples at 16 kHz) before its next record(): 2.5 blocks of 64
    # not heard, so 2 lost and half a block carried over; then record() itself misses 32
    cp.Ticks.now += 10
    mic.readinto(block)
    assert mic.lost == 2
    monkeypatch.setattr(cp.PDMIn, "short_by", 32)
    mic.readinto(block)
    assert mic.lost == 3   # 32 carried + 32 missed = one more block
    mic.stop()
    assert pdm.deinited


def test_pdmin_at_another_rate_or_without_a_microphone_is_a_clear_error(monkeypatch):
    cp, backend, facts, _ = _circuitpython_backend(monkeypatch, "pico")
    monkeypatch.setattr(cp.PDMIn, "__init__", _wrap_rate(cp.PDMIn.__init__, 15625))
    mic = backend.microphone(facts, BLOCK)
    with pytest.raises(ValueError, match="PDMIn records at 15625 Hz here, not the 16000 Hz"):
        mic.start()
    with pytest.raises(ValueError, match="no microphone under CircuitPython"):
        backend.microphone((None, None), BLOCK)


def _wrap_rate(init, rate):
    def wrapped(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.sample_rate = rate   # what a port's clock can actually make ("check sample_rate")
    return wrapped


def test_pdmin_microphone_allocates_nothing_per_block():
    out = run(f"""
import sys, gc
sys.path.insert(0, {str(FAKES / 'cp_on_mpy')!r})
sys.modules['micropython'] = __import__('micropython')
from array import array
import tinyml.hal._circuitpython as backend
mic = backend.microphone((None, ('pdm', 'GP16', 'GP18', None)), {BLOCK})
mic.start()
block = array('h', bytes(2 * {BLOCK}))
mic.readinto(block)
print('FIRST', list(block[:4]))
def blocks(n):   # in a function: a new global (the loop variable) would grow the globals dict
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(n):
        mic.readinto(block)
    return gc.mem_alloc() - before
print('ALLOC', blocks(50), mic.lost)
""")
    assert lines_with("FIRST", out) == [str([(n * 7919) % 65536 - 32768 for n in range(4)])]
    assert lines_with("ALLOC", out) == ["0 0"]


def test_sim_microphone_plays_the_stream_in_real_time_counts_late_blocks_allocates_nothing(tmp_path):
    # a stream of 3 s whose sample n is n mod 30011 (as int16): any sample says where it came from
    stream = (np.arange(48000) % 30011).astype("<i2")
    (tmp_path / "mic.pcm").write_bytes(stream.tobytes())
    (tmp_path / "mic.cues").write_text("0\n48000\n")
    out = run(f"""
import gc, time
from array import array
from tinyml import hal
mic = hal.microphone(320)
mic.start()
block = array('h', bytes(640))
t0 = time.ticks_ms()
mic.readinto(block)
first = block[0]
def blocks(n):
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(n):
        mic.readinto(block)
    return gc.mem_alloc() - before
print('ALLOC', blocks(25), mic.lost)
print('PACE', time.ticks_diff(time.ticks_ms(), t0))
after = block[0]
time.sleep_ms(200)     # away for 10 blocks of 20 ms: two wait, eight are dropped
mic.readinto(block)
print('LATE', first, after, block[0], mic.lost)
""", env={"TINYML_SIM_DIR": str(tmp_path)})
    alloc, lost = lines_with("ALLOC", out)[0].split()
    assert (alloc, lost) == ("0", "0")
    assert 480 <= int(lines_with("PACE", out)[0]) < 700   # 26 blocks of 20 ms, paced in real time
    first, after, late, lost = map(int, lines_with("LATE", out)[0].split())
    assert after == first + 25 * 320          # consecutive blocks, no gap
    # 200 ms away: 9 or 10 blocks complete in that time depending on where in a block the sleep
    # starts (11 if the wake-up is late); two wait, the rest are dropped; the block read next is
    # the oldest of the two waiting
    assert lost in (7, 8, 9) and late == after + (lost + 1) * 320


# A fake of _tinyml's nRF52840 PDM capture (pdm_start / pdm_read / pdm_stop, present only in
# firmware built for that chip), put in sys.modules so it stands in whatever the binary has.
PDM_SCRIPT = f"""
import sys, gc
from array import array
class FakePDM:
    log = []
    n = 0          # samples delivered so far
    lost = 0
    def pdm_start(self, b0, b1, clk, din, power):
        self.log.append(('pdm_start', len(b0), len(b1), b0 is b1, clk, din, power))
        self.n = 0
        self.lost = 0
    def pdm_read(self, out):
        n = self.n
        for k in range(len(out)):
            out[k] = ((n + k) * 7919) % 65536 - 32768
        self.n = n + len(out)
        return self.lost
    def pdm_stop(self):
        self.log.append(('pdm_stop',))
fake = FakePDM()
sys.modules['_tinyml'] = fake
from tinyml.boards import BOARDS
from tinyml.hal import _machine
mic = _machine.microphone(BOARDS[BOARD]['mic'], {BLOCK})
try:
    mic.readinto(array('h', bytes(2 * {BLOCK})))
except ValueError as e:
    print('ERR', e)
mic.start()
mic.start()   # a second start does nothing
print('LOG', fake.log)
block = array('h', bytes(2 * {BLOCK}))
print('R', mic.readinto(block), list(block) == [((k * 7919) % 65536) - 32768 for k in range({BLOCK})], mic.lost)
fake.lost = 3  # the capture dropped three blocks while the app was away
mic.readinto(block)
print('LOST', mic.lost)
def blocks(n):
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(n):
        mic.readinto(block)
    return gc.mem_alloc() - before
print('ALLOC', blocks(50), mic.lost)
mic.stop()
mic.stop()
print('STOP', fake.log[1:])
try:
    _machine.microphone(BOARDS[BOARD]['mic'], 63)
except ValueError as e:
    print('ERR', e)
"""


@pytest.mark.parametrize("board", ["nano33_ble_sense", "nano33_ble_sense_rev2"])
def test_pdm_microphone_drives_tinymls_nrf52840_capture(board):
    out = run(f"BOARD = {board!r}\n" + PDM_SCRIPT)
    mic = boards.load()[board]["microphone"]["micropython"]
    # two distinct DMA buffers of one block each, the board's clock, data and power pins
    assert lines_with("LOG", out) == [str([("pdm_start", BLOCK, BLOCK, False, mic["clock"], mic["data"], mic["power"])])]
    assert lines_with("R", out) == [f"{BLOCK} True 0"]
    assert lines_with("LOST", out) == ["3"]
    assert lines_with("ALLOC", out) == ["0 3"]   # 0 bytes allocated per block
    assert lines_with("STOP", out) == ["[('pdm_stop',)]"]
    assert lines_with("ERR", out) == ["microphone not started: call start() first",
                                      "the PDM microphone's block must be an even number of samples, got 63"]
