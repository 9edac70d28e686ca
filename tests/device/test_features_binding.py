"""_tinyml's audio front end (ABI 5) in the real micropython binary: frontend(config) checks a
packed config once, fe_push / fe_frame / fe_frame_s8 / fe_reset run it.

- frame for frame the numpy reference (tinyml_host.features) on TFLM's clips and on synthetic
  audio under several settings, fed in odd chunks, through tinyml.features.Frontend, with
  frame_int8 checked too and 0 bytes allocated per hop;
- the config used in place when read-only, copied when writable (changing it afterwards
  changes nothing);
- damaged arguments refused with a ValueError naming the problem;
- a fuzz of damaged configs and calls: a ValueError the contract allows, or the C core's own
  answer for the same bytes (native/core through ctypes), never a crash.

Needs a _tinyml build (docs/firmware.md) on TINYML_MPY_PATH; skipped without one unless
TINYML_REQUIRE_NATIVE=1."""

import struct
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "native"))
import fe_harness as fh  # noqa: E402
import harness  # noqa: E402
from mpy import lines_with, native_or_skip, run  # noqa: E402
from test_features_device import CONFIGS, SYNTHETIC, _check, clips, run_device, synthetic_audio  # noqa: E402
from tinyml_host import features as F  # noqa: E402


def test_micro_speech_clips_native(tmp_path):
    native_or_skip()
    audio = clips()
    if not audio:
        pytest.skip("TFLM's micro_speech clips (../shared/models/micro_speech) not present")
    frames, alloc, hops, _ = run_device(tmp_path, F.MICRO_SPEECH, audio, "native")
    _check(frames, F.MICRO_SPEECH, audio)
    assert hops == 35 and alloc == 0


@pytest.mark.parametrize("name", SYNTHETIC + ["op_defaults", "log_off", "channels_64_fft_1024", "odd_settings"])
def test_synthetic_audio_native(tmp_path, name):
    native_or_skip()
    frames, alloc, hops, _ = run_device(tmp_path, CONFIGS[name], synthetic_audio(), "native")
    _check(frames, CONFIGS[name], synthetic_audio())
    assert alloc == 0


PLACES = """
from array import array
import _tinyml
cfg = open('cfg.bin', 'rb').read()
audio = array('h', open('audio.pcm', 'rb').read())
def frames(fe):
    out = array('H', bytes(80))
    at = 0
    got = []
    while at < len(audio):
        at += _tinyml.fe_push(fe, audio, at, -1)
        if _tinyml.fe_frame(fe, out):
            got.append(bytes(out).hex())
    return ','.join(got)
writable = bytearray(cfg)
odd = bytearray(len(cfg) + 1)
odd[1:] = cfg
fes = [('bytes', _tinyml.frontend(cfg)), ('bytearray', _tinyml.frontend(writable)),
       ('odd', _tinyml.frontend(memoryview(odd)[1:])), ('odd_ro', _tinyml.frontend(memoryview(b'x' + cfg)[1:]))]
for k in range(64, len(writable)):   # a copy: the Frontend no longer reads these bytes
    writable[k] = 0x55
    odd[k + 1] = 0x55
for name, fe in fes:
    print('P', name, frames(fe))
"""


def test_config_used_in_place_or_copied(tmp_path):
    native_or_skip()
    (tmp_path / "cfg.bin").write_bytes(F.pack_config(F.plan(F.MICRO_SPEECH)))
    audio = fh.audio_cases(4)["chirp"][:4000]
    (tmp_path / "audio.pcm").write_bytes(audio.astype("<i2").tobytes())
    want = ",".join(f.astype("<u2").tobytes().hex() for f in F.Frontend(F.MICRO_SPEECH).feed(audio))
    got = dict(line.split(" ", 1) for line in lines_with("P", run(PLACES, cwd=tmp_path)))
    assert got == {name: want for name in ("bytes", "bytearray", "odd", "odd_ro")}


ARGS = """
from array import array
import _tinyml
cfg = open('cfg.bin', 'rb').read()
fe = _tinyml.frontend(cfg)
samples = array('h', range(1000))
raw = bytearray(2001)
def attempt(label, f, *args):
    try:
        print('R', label, 'ok', f(*args))
    except (ValueError, TypeError) as e:
        print('R', label, type(e).__name__, e)
attempt('magic', _tinyml.frontend, b'TFE2' + cfg[4:])
attempt('short', _tinyml.frontend, cfg[:40])
attempt('empty', _tinyml.frontend, b'')
attempt('truncated', _tinyml.frontend, cfg[:-2])
attempt('longer', _tinyml.frontend, cfg + b'  ')
attempt('channels', _tinyml.frontend, cfg[:16] + b'\\0\\0\\0\\0' + cfg[20:])
attempt('shift', _tinyml.frontend, cfg[:60] + b'\\x11\\0\\0\\0' + cfg[64:])
attempt('not_buffer', _tinyml.frontend, 5)
attempt('fe_type', _tinyml.fe_push, object(), samples, 0, 10)
attempt('start_neg', _tinyml.fe_push, fe, samples, -1, 10)
attempt('end_past', _tinyml.fe_push, fe, samples, 0, 1001)
attempt('end_before', _tinyml.fe_push, fe, samples, 10, 5)
attempt('odd_samples', _tinyml.fe_push, fe, memoryview(raw)[1:], 0, 10)
attempt('odd_empty', _tinyml.fe_push, fe, memoryview(raw)[1:], 3, 3)
attempt('to_end', _tinyml.fe_push, fe, samples, 990, -1)
attempt('out_short', _tinyml.fe_frame, fe, array('H', bytes(78)))
attempt('out_odd', _tinyml.fe_frame, fe, memoryview(raw)[1:81])
attempt('out_ro', _tinyml.fe_frame, fe, bytes(80))
attempt('out_ok', _tinyml.fe_frame, fe, array('H', bytes(80)))
attempt('s8_short', _tinyml.fe_frame_s8, fe, bytearray(39), 666, -128)
attempt('s8_divisor', _tinyml.fe_frame_s8, fe, bytearray(40), 0, -128)
attempt('s8_zp', _tinyml.fe_frame_s8, fe, bytearray(40), 666, 128)
attempt('s8_odd_ok', _tinyml.fe_frame_s8, fe, memoryview(raw)[1:41], 666, -128)
attempt('reset', _tinyml.fe_reset, fe)
attempt('abi', getattr, _tinyml, 'ABI')
"""


def test_bad_arguments_are_refused_by_name(tmp_path):
    native_or_skip()
    (tmp_path / "cfg.bin").write_bytes(F.pack_config(F.plan(F.MICRO_SPEECH)))
    got = dict(line.split(" ", 1) for line in lines_with("R", run(ARGS, cwd=tmp_path)))
    want = {
        "magic": "ValueError config is not a packed front-end config (TFE1)",
        "short": "ValueError config is not a packed front-end config (TFE1)",
        "empty": "ValueError config is not a packed front-end config (TFE1)",
        "truncated": "ValueError config length is not what its sizes say",
        "longer": "ValueError config length is not what its sizes say",
        "channels": "ValueError config sizes, bins or bands out of range",
        "shift": "ValueError config constant or shift out of range",
        "fe_type": "TypeError fe must come from _tinyml.frontend",
        "start_neg": "ValueError start, end outside samples",
        "end_past": "ValueError start, end outside samples",
        "end_before": "ValueError start, end outside samples",
        "odd_samples": "ValueError samples must be 2-byte aligned (int16)",
        "odd_empty": "ok 0",
        "to_end": "ok 10",
        "out_short": "ValueError out shorter than num_channels uint16",
        "out_odd": "ValueError out must be 2-byte aligned (uint16)",
        "out_ok": "ok False",
        "s8_short": "ValueError out shorter than num_channels int8",
        "s8_divisor": "ValueError divisor must be >= 1, zero_point in -128..127",
        "s8_zp": "ValueError divisor must be >= 1, zero_point in -128..127",
        "s8_odd_ok": "ok False",
        "reset": "ok None",
        "abi": "ok 5",
    }
    assert got.pop("not_buffer").startswith("TypeError")
    assert got.pop("out_ro").startswith("TypeError")   # not writable: MicroPython's own message
    assert got == want


# --- fuzz ---------------------------------------------------------------------------------------

CASES = 300
# the ValueError each tml_fe_unpack status gives (modtinyml.c)
CONFIG_MESSAGES = {
    fh.TML_ERR_FORMAT: "config is not a packed front-end config (TFE1)",
    fh.TML_ERR_SIZE: "config length is not what its sizes say",
    fh.TML_ERR_NULL: "config lacks a table",
    fh.TML_ERR_SHAPE: "config sizes, bins or bands out of range",
    fh.TML_ERR_RANGE: "config constant or shift out of range",
}

FUZZ = """
from array import array
import _tinyml
f = open('cases.bin', 'rb')
n = 0
while True:
    head = f.read(16)
    if not head:
        break
    size, n_audio, offset, seed = array('i', head)
    cfg = f.read(size)
    audio = array('h', f.read(2 * n_audio))
    raw = bytearray(size + 1)
    raw[offset:offset + size] = cfg
    config = memoryview(raw)[offset:offset + size] if seed % 2 else bytes(cfg)
    try:
        fe = _tinyml.frontend(config)
    except ValueError as e:
        print('C', n, 'refused', e)
        n += 1
        continue
    out = array('H', bytes(2 * array('i', bytes(cfg[16:20]))[0]))   # num_channels: it passed
    print('C', n, 'ok')
    at = 0
    k = seed
    while at < n_audio:
        k = (k * 1103515245 + 12345) & 0x7FFFFFFF
        end = min(n_audio, at + k % 700)
        at += _tinyml.fe_push(fe, audio, at, end)
        if _tinyml.fe_frame(fe, out):
            print('F', n, bytes(out).hex())
    n += 1
"""


def _damaged(rng, packs):
    """A packed config, mostly valid, with one kind of damage; audio to feed it."""
    packed = bytearray(packs[int(rng.integers(len(packs)))])
    kind = int(rng.integers(6))
    if kind == 0:       # a scalar set to a random value near its range
        k = int(rng.integers(15))
        value = int(rng.choice([-1, 0, 1, 2, 3, 7, 16, 17, 31, 32, 40, 257, 512, 4096, 16384, 16385, 1 << 30,
                                -(1 << 31)]))
        packed[4 + 4 * k:8 + 4 * k] = struct.pack("<i", value)
    elif kind == 1:     # a random byte anywhere
        packed[int(rng.integers(len(packed)))] = int(rng.integers(256))
    elif kind == 2:     # cut or extended
        packed = packed[:int(rng.integers(len(packed) + 1))] if rng.integers(2) else packed + bytes(int(rng.integers(1, 9)))
    elif kind == 3:     # a band or order entry past its limit
        order_at = len(packed) - struct.unpack_from("<i", packed, 12)[0]
        at = order_at + 2 * int(rng.integers(struct.unpack_from("<i", packed, 12)[0] // 2))
        packed[at:at + 2] = struct.pack("<H", int(rng.integers(0, 65536)))
    elif kind == 4:     # table values at random: any int16 is allowed there
        at = 64 + 2 * int(rng.integers((len(packed) - 64) // 2))
        packed[at:at + 2] = struct.pack("<h", int(rng.integers(-32768, 32768)))
    audio = rng.integers(-32768, 32768, int(rng.integers(0, 2500))) // int(rng.choice([1, 64, 4096]))
    return bytes(packed), audio.astype(np.int16)


def test_fuzzed_configs_and_calls_refused_or_answered_as_the_core(tmp_path):
    native_or_skip()
    rng = np.random.default_rng(2031)
    packs = [F.pack_config(F.plan(c)) for c in (F.MICRO_SPEECH, CONFIGS["odd_window_23"],
                                                CONFIGS["channels_16_fft_256"], CONFIGS["pcan_off"])]
    cases, records = [], bytearray()
    for k in range(CASES):
        packed, audio = _damaged(rng, packs)
        offset = int(rng.integers(2)) if k % 2 else 0
        cases.append((packed, audio, k))
        records += struct.pack("<4i", len(packed), len(audio), offset, k) + packed + audio.astype("<i2").tobytes()
    (tmp_path / "cases.bin").write_bytes(records)
    out = run(FUZZ, cwd=tmp_path, timeout=600)
    results = lines_with("C", out)
    printed = {}
    for line in lines_with("F", out):
        n, hexed = line.split()
        printed.setdefault(int(n), []).append(hexed)
    assert len(results) == CASES
    dll = fh.load(harness.build(tmp_path))
    outcomes = {"ok": 0, "refused": 0}
    for (packed, audio, seed), line in zip(cases, results):
        n, verdict, *rest = line.split(" ", 2)
        status, _, _ = fh.unpack(dll, packed)
        if verdict == "refused":
            assert status != fh.TML_OK and rest[0] == CONFIG_MESSAGES[status], (seed, status, rest)
        else:
            assert status == fh.TML_OK, seed
            # frames depend only on the samples, not on how they were chunked (docs/features.md)
            fe = fh.NativeFrontend(dll, None, packed)
            want = [f.astype("<u2").tobytes().hex() for f in fe.feed(audio)]
            assert printed.get(int(n), []) == want, seed
        outcomes[verdict] += 1
    assert outcomes["ok"] >= CASES // 4 and outcomes["refused"] >= CASES // 4, outcomes
