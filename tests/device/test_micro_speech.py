"""TFLM's micro_speech end to end on every backend: the board's front end (the .tmdl's record)
computes the features of TFLM's four one-second clips from their samples, the model scores them,
and the int8 scores equal TensorFlow's own micro frontend op followed by micro_speech's int8
conversion and tflite-micro's interpreter. Also the scores TFLM's test expects."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mpy import lines_with, run

ROOT = Path(__file__).resolve().parents[2]
MICRO_SPEECH = ROOT.parent / "shared" / "models" / "micro_speech"
CLIPS = ["yes", "no", "silence", "noise"]

pytestmark = pytest.mark.skipif(not MICRO_SPEECH.is_dir(),
                                reason="../shared/models/micro_speech (TFLM's model and clips) is absent")

BOARD = """
import gc
from array import array
import tinyml
from tinyml import features
for backend in tinyml.available_backends():
    m = tinyml.load('kws.tmdl', backend)
    config, thresholds = features.split_record(m.frontend_config())
    fe = features.Frontend(config)
    ch = fe.num_channels
    for name in %r:
        fe.reset()
        with open(name + '.pcm', 'rb') as f:
            pcm = f.read()
        samples = array('h', pcm)
        frames = 0
        at = 0
        while at < len(samples) and frames < len(m.input) // ch:
            at += fe.push(samples, at, len(samples))
            if fe.ready:
                features.to_int8(fe.frame, thresholds, m.input, frames * ch)
                frames += 1
        gc.collect()
        before = gc.mem_alloc()
        m.invoke()
        alloc = gc.mem_alloc() - before
        print('S', backend, name, frames, alloc, ' '.join(str(v) for v in m.output))
"""


def _tf_scores(model_bytes: bytes, clip: str) -> list[int]:
    """TensorFlow's micro frontend op on the clip, micro_speech's int8 conversion, tflite-micro."""
    tf = pytest.importorskip("tensorflow")
    from tensorflow.lite.experimental.microfrontend.python.ops import audio_microfrontend_op as op

    from tinyml_host import audio, golden

    samples = audio.read_wav(MICRO_SPEECH / f"{clip}_1000ms.wav")
    frames = op.audio_microfrontend(tf.constant(samples.astype(np.int16)), sample_rate=16000, window_size=30,
                                    window_step=20, num_channels=40, upper_band_limit=7500.0,
                                    lower_band_limit=125.0, out_scale=1, out_type=tf.uint16).numpy()
    v = frames[:49].astype(np.int64)
    x = np.clip((v * 256 + 333) // 666 - 128, -128, 127).astype(np.int8).reshape(1, -1)
    return golden.run_tflm(model_bytes, x).reshape(-1).tolist()


def test_micro_speech_scores_every_clip_on_every_backend_as_tensorflow_and_tflm_do(tmp_path):
    from tinyml_host import audio

    tflite = MICRO_SPEECH / "micro_speech_quantized.tflite"
    proc = subprocess.run([sys.executable, "-m", "tinyml_host.cli", "export", str(tflite), "--frontend", "micro",
                           "--labels", "silence,unknown,yes,no", "-o", str(tmp_path / "kws.tmdl")],
                          capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "host")})
    assert proc.returncode == 0, proc.stderr
    for clip in CLIPS:
        (tmp_path / f"{clip}.pcm").write_bytes(audio.read_wav(MICRO_SPEECH / f"{clip}_1000ms.wav")
                                               .astype("<i2").tobytes())
    out = run(BOARD % (CLIPS,), cwd=tmp_path, timeout=900)
    rows = [line.split() for line in lines_with("S", out)]
    backends = sorted({r[0] for r in rows})
    assert {"viper", "python"} <= set(backends)
    want = {clip: _tf_scores(tflite.read_bytes(), clip) for clip in CLIPS}
    # TFLM's own micro_speech test: yes, no, silence, silence (silence's index 0, yes 2, no 3)
    assert [int(np.argmax(want[c])) for c in CLIPS] == [2, 3, 0, 0]
    for backend, clip, frames, alloc, *scores in rows:
        assert frames == "49" and alloc == "0", (backend, clip)
        assert [int(s) for s in scores] == want[clip], (backend, clip)
    assert len(rows) == len(backends) * len(CLIPS)
