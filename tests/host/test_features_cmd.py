"""`tinyml features WAV --json`: frame for frame TensorFlow's micro frontend op (with micro_speech's
int8 conversion), on the host and on the virtual board, from a named front end or a model's record."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinyml_host import audio, deploy
from tinyml_host.board import Board

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT.parent / "shared" / "models" / "micro_speech" / "no_1000ms.wav"


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "tinyml_host.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)


def _tf_int8(samples: np.ndarray) -> list:
    tf = pytest.importorskip("tensorflow")
    from tensorflow.lite.experimental.microfrontend.python.ops import audio_microfrontend_op as op

    v = op.audio_microfrontend(tf.constant(samples.astype(np.int16)), sample_rate=16000, window_size=30,
                               window_step=20, num_channels=40, upper_band_limit=7500.0, lower_band_limit=125.0,
                               out_scale=1, out_type=tf.uint16).numpy().astype(np.int64)
    return np.clip((v * 256 + 333) // 666 - 128, -128, 127).tolist()


@pytest.fixture
def wav(tmp_path):
    """TFLM's no clip when ../shared is there, else 0.7 s of a chirp and noise made here."""
    if CLIP.exists():
        return CLIP
    rng = np.random.default_rng(1)
    t = np.arange(11200) / 16000
    x = 8000 * np.sin(2 * np.pi * (200 + 1500 * t) * t) + rng.normal(0, 500, t.size)
    return audio.write_wav(tmp_path / "chirp.wav", np.clip(x, -32768, 32767).astype(np.int16))


def test_host_features_are_the_ops_frame_for_frame(wav, tmp_path):
    proc = _cli("features", str(wav), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["frames"] == _tf_int8(audio.read_wav(wav))
    png = _cli("features", str(wav), "-o", str(tmp_path / "f.png"))
    assert png.returncode == 0 and (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    # folded at 100 columns wherever the paths make the line long (the CI's are longer than ours)
    assert "frames of 40 int8 features (host reference)" in " ".join(png.stdout.split())


def test_the_virtual_boards_features_are_the_ops_frame_for_frame(vboard, wav):
    with Board(vboard.port) as board:
        deploy.deploy(board, deploy.DEVICE, [], progress=lambda s: None)
    proc = _cli("features", str(wav), "--json", "--port", vboard.port)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["frames"] == _tf_int8(audio.read_wav(wav))


def test_a_model_without_a_front_end_is_refused_by_name(tmp_path, model_file, wav):
    proc = _cli("features", str(wav), "--model", str(model_file))
    assert proc.returncode == 1 and "records no front end" in proc.stderr and "--frontend micro" in proc.stderr
    assert "Traceback" not in proc.stderr
