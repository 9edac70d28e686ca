"""`tinyml evaluate MODEL DATA --json` with TFLM's micro_speech (exported with its front end record
and labels) on a Speech Commands folder of TFLM's four one-second clips: the per-clip int8 scores
on the host's reference and on the virtual board (--port sim, each backend running both the front
end and the model) are TensorFlow's own micro frontend op, micro_speech's int8 conversion and
tflite-micro's interpreter; the predictions are TFLM's: yes, no, silence, silence."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
MICRO_SPEECH = ROOT.parent / "shared" / "models" / "micro_speech"
# the folder layout, and the clip each file is
FILES = {"no/no_1000ms.wav": "no", "silence/noise_1000ms.wav": "noise",
         "silence/silence_1000ms.wav": "silence", "yes/yes_1000ms.wav": "yes"}

pytestmark = pytest.mark.skipif(not MICRO_SPEECH.is_dir(),
                                reason="../shared/models/micro_speech (TFLM's model and clips) is absent")


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "tinyml_host.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=1200, env={**os.environ, "PYTHONPATH": str(ROOT / "host")})


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


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evalport")
    tflite = MICRO_SPEECH / "micro_speech_quantized.tflite"
    proc = _cli("export", tflite, "--frontend", "micro", "--labels", "silence,unknown,yes,no",
                "-o", tmp / "kws.tmdl", cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    data = tmp / "clips"
    for rel, clip in FILES.items():
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(MICRO_SPEECH / f"{clip}_1000ms.wav", data / rel)
    want = {rel: _tf_scores(tflite.read_bytes(), clip) for rel, clip in FILES.items()}
    return tmp, data, want


def _check(out: dict, want: dict):
    files = {f["path"]: f for f in out["files"]}
    assert sorted(files) == sorted(want)
    for rel, scores in want.items():
        assert files[rel]["scores"] == scores, rel
    # TFLM's own micro_speech test: yes, no, silence, silence
    assert [files[r]["predicted"] for r in ("yes/yes_1000ms.wav", "no/no_1000ms.wav", "silence/silence_1000ms.wav",
                                            "silence/noise_1000ms.wav")] == ["yes", "no", "silence", "silence"]
    assert all(f["label"] == f["predicted"] for f in files.values())
    assert out["accuracy"] == 1.0 and out["examples"] == 4 and out["kind"] == "audio"


def test_host_scores_every_clip_as_tensorflow_and_tflm_do(setup):
    tmp, data, want = setup
    proc = _cli("evaluate", tmp / "kws.tmdl", data, "--json", cwd=tmp)
    assert proc.returncode == 0, proc.stderr
    _check(json.loads(proc.stdout), want)


def test_the_virtual_board_scores_every_clip_on_every_backend_as_tensorflow_and_tflm_do(setup):
    """One virtual board (its flash in tmp): tinyml deployed by the first run, kept by the others."""
    tmp, data, want = setup
    for backend in ("native", "viper", "python"):
        proc = _cli("evaluate", tmp / "kws.tmdl", data, "--json", "--port", "sim", "--backend", backend, cwd=tmp)
        assert proc.returncode == 0, (backend, proc.stderr)
        _check(json.loads(proc.stdout), want)


def test_a_model_without_a_front_end_is_refused_by_name(setup):
    from tinyml_host import tmdl

    tmp, data, _ = setup
    m = tmdl.read(tmp / "kws.tmdl")
    m.frontend = None
    (tmp / "bare.tmdl").write_bytes(tmdl.encode(m))
    for port in ([], ["--port", "sim"]):
        proc = _cli("evaluate", tmp / "bare.tmdl", data, "--json", *port, cwd=tmp)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert "bare.tmdl records no front end" in proc.stderr and "--frontend micro" in proc.stderr
    proc = _cli("evaluate", tmp / "kws.tmdl", data, "--backend", "viper", cwd=tmp)
    assert proc.returncode == 1 and "--backend chooses the board's implementation: give --port too" in proc.stderr
