"""The keyword app (device/lib/tinyml/apps/kws.py) in the micropython binary: the front end
record's int8 conversion, the recognizer's averaging and suppression, and TFLM's micro_speech
model hearing TFLM's own clips through the virtual board's microphone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mpy import lines_with, run

ROOT = Path(__file__).resolve().parents[2]
MICRO_SPEECH = ROOT.parent / "shared" / "models" / "micro_speech"


def test_the_boards_int8_conversion_is_micro_speechs_formula_on_every_value(tmp_path):
    from tinyml_host import features

    record = features.frontend_record(features.MICRO_SPEECH, features.micro_speech_int8)
    (tmp_path / "fe.bin").write_bytes(record)
    out = run("""
import gc
from array import array
from tinyml import features
with open('fe.bin', 'rb') as f:
    config, thresholds = features.split_record(f.read())
fe = features.Frontend(config)
frame = array('H', bytes(2 * 256))
out = array('b', bytes(256))
got = bytearray(65536)
alloc = 0
start = 0
while start < 65536:
    for i in range(256):
        frame[i] = start + i
    gc.collect()
    before = gc.mem_alloc()
    features.to_int8(frame, thresholds, out)
    alloc += gc.mem_alloc() - before
    for i in range(256):
        got[start + i] = out[i] & 255
    start += 256
print('ALLOC', alloc)
with open('got.bin', 'wb') as f:
    f.write(got)
print('CH', fe.num_channels)
""", cwd=tmp_path)
    assert lines_with("ALLOC", out) == ["0"] and lines_with("CH", out) == ["40"]
    got = np.frombuffer((tmp_path / "got.bin").read_bytes(), np.int8)
    # micro_speech's feature provider: clamp((v * 256 + 333) // 666 - 128), written out here
    v = np.arange(65536, dtype=np.int64)
    assert (got == np.clip((v * 256 + 333) // 666 - 128, -128, 127)).all()


RECOGNIZER = """
from tinyml.apps import kws
r = kws.Recognizer(3, 100, ['silence', 'yes', 'no'])   # an inference every 100 ms: 10 averaged
yes = [-128, 127, -128]   # int8 scores
sil = [127, -128, -128]
t = 0
for k in range(40):
    s = sil if k < 5 or 20 <= k < 26 else yes
    found = r.update(s, t)
    if found >= 0:
        print('D', k, found, r.score)
    t += 100
"""


def test_the_recognizer_averages_a_second_and_hears_a_keyword_once_per_utterance():
    out = run(RECOGNIZER)
    # yes from inference 5 on: its average over the last 10 (score 255, else 0) passes 200 when
    # 8 of the 10 are yes, at k = 12: 8 * 255 // 10 = 204. It stays above while yes goes on, but
    # within 1,500 ms it is the same utterance. Silence from 20 to 25, yes again from 26: the
    # average passes 200 again at k = 33 (8 of 10), 2,100 ms after the first: a new detection.
    assert [line.split() for line in lines_with("D", out)] == [["12", "1", "204"], ["33", "1", "204"]]


def _export_micro_speech(tmp_path) -> Path:
    model = tmp_path / "kws.tmdl"
    proc = subprocess.run([sys.executable, "-m", "tinyml_host.cli", "export",
                           str(MICRO_SPEECH / "micro_speech_quantized.tflite"), "--frontend", "micro",
                           "--labels", "silence,unknown,yes,no", "-o", str(model)],
                          capture_output=True, text=True, cwd=ROOT,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT / "host")})
    assert proc.returncode == 0, proc.stderr
    return model


@pytest.mark.skipif(not MICRO_SPEECH.is_dir(), reason="../shared/models/micro_speech (TFLM's model and clips) is absent")
@pytest.mark.parametrize("word", ["yes", "no"])
def test_tflm_micro_speech_hears_its_clip_through_the_virtual_microphone(tmp_path, word):
    from tinyml_host import audio

    model = _export_micro_speech(tmp_path)
    sim = tmp_path / "sim"
    sim.mkdir()
    audio.prepare_mic(MICRO_SPEECH / f"{word}_1000ms.wav", sim)
    out = run(f"""
from tinyml import hal
from tinyml.apps import kws
heard = kws.run(inferences=60, detections=1, verbose=True, model={str(model)!r})
print('HEARD', heard, hal.led().duty_u16())
""", cwd=tmp_path, env={"TINYML_SIM_DIR": str(sim)})
    heard = [line.split()[0] for line in lines_with("heard", out)]
    assert heard == [word], out
    index = ["silence", "unknown", "yes", "no"].index(word)
    assert lines_with("HEARD", out) == [f"1 {(index + 1) * 65535 // 4}"], out


@pytest.mark.skipif(not MICRO_SPEECH.is_dir(), reason="../shared/models/micro_speech (TFLM's model and clips) is absent")
def test_the_app_allocates_nothing_per_block_or_inference(tmp_path):
    # the same app run twice as long allocates the same: its loop (microphone block, front end
    # hop, int8 conversion, inference, recognizer) allocates nothing; measured with the collector
    # off, in a silent room (no detection: a detection's print and telemetry may allocate)
    model = _export_micro_speech(tmp_path)
    sim = tmp_path / "sim"
    sim.mkdir()
    out = run(f"""
import gc
from tinyml.apps import kws
def allocated(n):
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    kws.run(inferences=n, model={str(model)!r})
    used = gc.mem_alloc() - before
    gc.enable()
    return used
allocated(5)   # the first runs make what a run makes once (the microphone, lazily made module state)
allocated(5)
short = allocated(5)
long = allocated(30)
print('ALLOC', long - short)
""", cwd=tmp_path, env={"TINYML_SIM_DIR": str(sim)}, args=("-X", "heapsize=4M"))
    assert lines_with("ALLOC", out) == ["0"], out
