"""device/lib/tinyml/features.py: the micro frontend on the board, frame for frame equal to the
numpy reference (tinyml_host.features, itself bit-exact with TensorFlow's op).

- In CPython, viper_twin.load_python() runs the module's own source with every integer a
  SmallInt that raises outside a 32-bit port's small-int range, on several configs and signals.
- In the micropython binary: TFLM's clips and synthetic audio fed in odd chunk sizes, frames
  compared, and 0 bytes allocated per hop (gc.mem_alloc()).

Run as a script it prints the ms per 20 ms hop of micro_speech's settings in the unix port."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "host"))   # this tree's, also as a script
import viper_twin  # noqa: E402
from mpy import lines_with, run  # noqa: E402
from tinyml_host import features as F  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "device" / "lib" / "tinyml" / "features.py"
CLIPS = ROOT.parent / "shared" / "models" / "micro_speech"

CONFIGS = {
    "micro_speech": F.MICRO_SPEECH,
    "op_defaults": F.FrontendConfig(),
    "pcan_off": F.replace(F.MICRO_SPEECH, enable_pcan=False),
    "noise_reduction_off": F.replace(F.MICRO_SPEECH, even_smoothing=0.0, odd_smoothing=0.0, min_signal_remaining=1.0),
    "log_off": F.replace(F.MICRO_SPEECH, enable_log=False),
    "channels_16_fft_256": F.replace(F.MICRO_SPEECH, window_size=16, window_step=8, num_channels=16),
    "channels_64_fft_1024": F.replace(F.MICRO_SPEECH, window_size=64, window_step=32, num_channels=64),
    "odd_window_23": F.replace(F.MICRO_SPEECH, window_size=31, window_step=13, num_channels=23),
    "narrowband_3800": F.replace(F.MICRO_SPEECH, upper_band_limit=3800.0),   # kws on 8 kHz recordings
    "odd_settings": F.replace(F.MICRO_SPEECH, smoothing_bits=5, even_smoothing=0.3, odd_smoothing=0.9,
                              min_signal_remaining=0.2, scale_shift=9, pcan_strength=0.5, pcan_offset=3.0,
                              gain_bits=24),
}


def signals(seed: int, n: int = 4000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000.0
    cases = {
        "silence": np.zeros(n // 2),
        "noise_loud": rng.normal(0, 8000, n),
        "noise_quiet": rng.normal(0, 3, n),
        "uniform_full_scale": rng.integers(-32768, 32768, n),
        "tone": 12000 * np.sin(2 * np.pi * 1234 * t),
        "chirp": 20000 * np.sin(2 * np.pi * (60 * t + 0.5 * 15000 * t * t)),
        "square_clipped": np.where(np.sin(2 * np.pi * 300 * t) >= 0, 32767, -32768),
        "all_min": np.full(n // 2, -32768),
    }
    return {k: np.clip(np.round(v), -32768, 32767).astype(np.int16) for k, v in cases.items()}


def clips() -> dict[str, np.ndarray]:
    if not CLIPS.exists():
        return {}
    return {p.stem: F.read_wav(p)[1] for p in sorted(CLIPS.glob("*_1000ms.wav"))}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_pure_python_is_exact_with_every_value_a_small_int(name):
    ns = viper_twin.load_python(SOURCE.read_text())
    config = CONFIGS[name]
    packed = F.pack_config(F.plan(config))
    rng = np.random.default_rng(7)
    for signal, audio in signals(3, 2500).items():
        want = F.Frontend(config).feed(audio)
        fe = ns["PythonFrontend"](packed)
        buf = viper_twin.Array("h", audio.astype("<i2").tobytes())
        got, at = [], 0
        while at < len(audio):
            end = min(len(audio), at + int(rng.integers(1, 400)))
            at += int(viper_twin._value(fe.push(buf, at, end)))
            if fe.ready:
                got.append([int(viper_twin._value(v)) for v in fe.frame.values])
        got = np.array(got, np.uint16).reshape(-1, config.num_channels)
        assert np.array_equal(got, want), (name, signal)


VIPER_SOURCE = SOURCE.with_name("_fe_viper.py")


def test_viper_constants_are_small_ints():
    import ast
    for node in ast.walk(ast.parse(VIPER_SOURCE.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            assert -(1 << 30) <= node.value < (1 << 30), node.value


@pytest.mark.parametrize("name", list(CONFIGS))
def test_viper_is_exact_as_a_32_bit_port_computes(name):
    """The viper kernels' own source on 32-bit Words (every result a signed 32-bit value, ptr32
    reads never negative, ptr16 stores wrapping), sequenced by features.ViperFrontend."""
    ns = viper_twin.load_python(SOURCE.read_text())
    kernels = viper_twin.viper_module(VIPER_SOURCE)
    config = CONFIGS[name]
    packed = F.pack_config(F.plan(config))
    rng = np.random.default_rng(11)
    for signal, audio in signals(4, 1500).items():
        want = F.Frontend(config).feed(audio)
        fe = ns["ViperFrontend"](packed, kernels)
        buf = viper_twin.Array("h", audio.astype("<i2").tobytes())
        got, at = [], 0
        while at < len(audio):
            end = min(len(audio), at + int(rng.integers(1, 400)))
            at += int(viper_twin._value(fe.push(buf, at, end)))
            if fe.ready:
                got.append([int(viper_twin._value(v)) for v in fe.frame.values])
        got = np.array(got, np.uint16).reshape(-1, config.num_channels)
        assert np.array_equal(got, want), (name, signal)


FEED = """
import gc, time
from array import array
from tinyml.features import Frontend
cfg = open('{cfg}', 'rb').read()
fe = Frontend(cfg, '{backend}')
print('B', fe.__class__.__name__)
i8 = array('b', bytes(fe.num_channels))
for name in {names}:
    audio = array('h', open('{folder}/' + name + '.pcm', 'rb').read())
    fe.reset()
    sizes = (1, 7, 33, 160, 321, 999, 2)
    at = k = 0
    while at < len(audio):
        end = min(len(audio), at + sizes[k % len(sizes)])
        k += 1
        while at < end:
            at += fe.push(audio, at, end)
            if fe.ready:
                print('F', name, bytes(fe.frame).hex())
                if k % 5 == 0:
                    fe.frame_int8(i8, {divisor}, {zero_point})
                    print('I', name, bytes(i8).hex())
# allocation and time per hop, once the first frame has been made
audio = array('h', open('{folder}/' + {names}[0] + '.pcm', 'rb').read())
fe.reset()
step = fe.step
at = fe.push(audio, 0, len(audio))
def hops_from(at, count):
    while count and at + step <= len(audio):
        at += fe.push(audio, at, at + step)
        fe.frame_int8(i8, {divisor}, {zero_point})
        count -= 1
    return at
# 5 hops to warm up (a first call may allocate once), then what 35 more allocate, then time 40
hops_from(at, 5)
fe.reset()
at = fe.push(audio, 0, len(audio))
at = hops_from(at, 1)
before = 0   # a new global grows the module's dict: not inside the measurement
gc.collect()
before = gc.mem_alloc()
at = hops_from(at, 35)
print('ALLOC', gc.mem_alloc() - before, 35)
fe.reset()
at = fe.push(audio, 0, len(audio))
t0 = time.ticks_us()
hops_from(at, 40)
t1 = time.ticks_us()
print('MS', time.ticks_diff(t1, t0) / 1000 / 40)
"""


CLASSES = {"python": "PythonFrontend", "viper": "ViperFrontend", "native": "_Native"}
INT8 = {"python": (666, -128), "viper": (300, 3), "native": (1000, -7)}  # a divisor and zero point each


def run_device(tmp_path: Path, config, audio: dict[str, np.ndarray], backend: str = "python"):
    """frames by clip name, the int8 conversions checked against the reference, bytes allocated
    by 35 more hops, ms per hop, on `backend` (its class name must say so)."""
    (tmp_path / "cfg.bin").write_bytes(F.pack_config(F.plan(config)))
    for name, a in audio.items():
        (tmp_path / f"{name}.pcm").write_bytes(np.asarray(a, "<i2").tobytes())
    divisor, zero_point = INT8[backend]
    out = run(FEED.format(
        cfg=tmp_path / "cfg.bin", folder=tmp_path, names=list(audio), backend=backend, divisor=divisor,
        zero_point=zero_point), timeout=900)
    assert lines_with("B", out)[0] == CLASSES[backend], out[:200]
    frames, count = {}, {}
    for line in out.splitlines():
        tag, _, rest = line.partition(" ")
        if tag == "F":
            name, hexed = rest.split()
            frames.setdefault(name, []).append(np.frombuffer(bytes.fromhex(hexed), "<u2"))
        elif tag == "I":   # the int8 of the frame printed just before
            name, hexed = rest.split()
            want = F.int8_by_divisor(frames[name][-1], divisor, zero_point)
            assert np.frombuffer(bytes.fromhex(hexed), np.int8).tolist() == want.tolist(), name
            count[name] = count.get(name, 0) + 1
    assert sum(count.values()) > 0
    alloc, hops = map(int, lines_with("ALLOC", out)[0].split())
    return frames, alloc, hops, float(lines_with("MS", out)[0])


def _check(frames, config, audio):
    for name, a in audio.items():
        want = F.Frontend(config).feed(a)
        got = np.array(frames.get(name, []), np.uint16).reshape(-1, config.num_channels)
        assert np.array_equal(got, want), name


@pytest.mark.parametrize("backend", ["python", "viper"])
def test_micro_speech_clips_in_micropython(tmp_path, backend):
    audio = clips()
    if not audio:
        pytest.skip(f"{CLIPS} not present")
    frames, alloc, hops, _ = run_device(tmp_path, F.MICRO_SPEECH, audio, backend)
    _check(frames, F.MICRO_SPEECH, audio)
    assert hops == 35 and alloc == 0


SYNTHETIC = ["pcan_off", "noise_reduction_off", "channels_16_fft_256", "odd_window_23", "narrowband_3800"]


def synthetic_audio():
    return {k: v for k, v in signals(5, 8000).items() if k in ("noise_loud", "chirp", "square_clipped", "silence")}


@pytest.mark.parametrize("backend", ["python", "viper"])
@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_audio_in_micropython(tmp_path, name, backend):
    frames, alloc, hops, _ = run_device(tmp_path, CONFIGS[name], synthetic_audio(), backend)
    _check(frames, CONFIGS[name], synthetic_audio())
    assert alloc == 0


def test_frontend_picks_the_fastest_backend():
    """native where _tinyml is (TINYML_MPY_PATH), then viper, then pure Python; an unknown
    backend is refused by name. Asking compiles no viper front end (tens of KB at import)."""
    out = run("import sys\nfrom tinyml import features\nprint('A', ' '.join(features.available_backends()))\n"
              "print('V', 'tinyml._fe_viper' in sys.modules)\n"
              "try:\n features.Frontend(b'', 'fortran')\nexcept ValueError as e:\n print('E', e)")
    backends = lines_with("A", out)[0].split()
    assert backends[-2:] == ["viper", "python"] and backends[0] in ("native", "viper")
    assert lines_with("V", out)[0] == "False"
    assert "unknown backend 'fortran'" in lines_with("E", out)[0]


if __name__ == "__main__":
    import tempfile
    audio = clips() or {"noise": signals(1, 16000)["noise_loud"]}
    for backend in ("python", "viper", "native"):
        try:
            with tempfile.TemporaryDirectory() as d:
                _, alloc, hops, ms = run_device(Path(d), F.MICRO_SPEECH, dict(list(audio.items())[:1]), backend)
        except AssertionError as e:
            print(f"{backend}: not available here ({str(e).splitlines()[-1][:100]})")
            continue
        print(f"{backend}, unix port: {ms:.3f} ms per 20 ms hop (micro_speech, 40 channels), "
              f"{alloc} bytes allocated by {hops} more hops")
