"""`tinyml record --sensor mic` and the virtual board's microphone: prompted one-second clips
written as 16 kHz WAV, checked against the audio that was played into the simulated mic."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from tinyml_host import audio

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
YES = SHARED / "models" / "micro_speech" / "yes_1000ms.wav"
NO = SHARED / "models" / "micro_speech" / "no_1000ms.wav"
TINYML = [sys.executable, "-m", "tinyml_host.cli"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "host")}

needs_speech = pytest.mark.skipif(not YES.exists(), reason=f"no micro_speech clips at {YES.parent} (../shared)")


def _wav_samples(path):
    """A mono 16-bit WAV's samples and rate, read with the standard library only."""
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.int64), w.getframerate()


def _offset_of(clip, played):
    """Where in `played` (then silence) the clip starts: the first offset at which every sample
    agrees. The clip starts a few ms after the prompt's cue (the board code between the cue and
    the microphone's start), so it is searched for, up to 250 ms in."""
    stream = np.concatenate([played, np.zeros(len(clip), np.int64)])
    for offset in range(0, 4000):
        if np.array_equal(stream[offset:offset + len(clip)], clip):
            return offset
    return None


@needs_speech
def test_record_mic_on_the_virtual_board_keeps_the_played_audio(tmp_path):
    proc = subprocess.run(TINYML + ["record", "--port", "sim", "--sensor", "mic", "--label", "yes", "--count", "2",
                                    "--mic", str(YES), "--countdown", "0", "--data", "ds"],
                          cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("say 'yes' now") == 2
    assert proc.stdout.count("0 blocks lost, complete") == 2
    played, rate = _wav_samples(YES)
    assert rate == 16000
    clips = sorted((tmp_path / "ds" / "yes").glob("*.wav"))
    metas = sorted((tmp_path / "ds" / "yes").glob("*.json"))
    assert len(clips) == 2 and len(metas) == 2
    assert sorted(p.name for p in (tmp_path / "ds" / "yes").iterdir() if p.name.startswith("."))  == []
    for clip_path, meta_path in zip(clips, metas):
        clip, rate = _wav_samples(clip_path)
        assert rate == 16000 and len(clip) == 16000
        assert np.abs(clip).max() > 1000   # speech, not the silence after it
        offset = _offset_of(clip, played)
        assert offset is not None, "the recorded clip is not the played audio at any offset"
        meta = json.loads(meta_path.read_text())
        assert (meta["format"], meta["label"], meta["kind"], meta["board"], meta["sensor"]) == (
            "tinyml-clip/1", "yes", "mic", "nano33_ble_sense", "SimMicrophone")
        assert meta["complete"] and meta["lost_blocks"] == 0 and meta["file"] == clip_path.name
        print(f"{clip_path.name}: the played audio from sample {offset} ({offset / 16:.1f} ms after the cue)")


@needs_speech
def test_mic_stream_from_a_folder_plays_its_files_in_order(tmp_path):
    folder = tmp_path / "words"
    folder.mkdir()
    # 8 kHz FSDD-like input is not needed: an 8 kHz copy of "no" made here checks resampling
    no, _ = _wav_samples(NO)
    audio.write_wav(folder / "b_no8k.wav", no[::2].astype(np.int16), 8000)
    (folder / "a_yes.wav").write_bytes(YES.read_bytes())
    files = audio.prepare_mic(folder, tmp_path)
    assert [f.name for f in files] == ["a_yes.wav", "b_no8k.wav"]
    pcm = np.frombuffer((tmp_path / "mic.pcm").read_bytes(), "<i2")
    yes, _ = _wav_samples(YES)
    assert (tmp_path / "mic.cues").read_text().split() == ["0", str(len(yes)), str(len(yes) + 2 * len(no[::2]))]
    assert np.array_equal(pcm[:len(yes)], yes)   # 16 kHz passes through sample for sample
    audio.prepare_mic(None, tmp_path)
    assert not (tmp_path / "mic.pcm").exists() and not (tmp_path / "mic.cues").exists()


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_resampling_keeps_a_tone_and_removes_what_16_khz_cannot_hold(rate):
    n = np.arange(rate)
    y = audio.resample(10000 * np.sin(2 * np.pi * 1000 * n / rate), rate)
    assert len(y) == 16000
    # the same 1 kHz tone sampled at 16 kHz directly, away from the edges the filter sees zeros at
    m = np.arange(16000)
    assert np.abs(y - 10000 * np.sin(2 * np.pi * 1000 * m / 16000))[400:-400].max() < 1.0
    if rate > 16000:   # 10 kHz is above 16 kHz's Nyquist frequency: filtered out, not aliased to 6 kHz
        z = audio.resample(10000 * np.sin(2 * np.pi * 10000 * n / rate), rate)
        assert np.sqrt(np.mean(z[400:-400] ** 2)) < 1.0


def test_wav_reading_mixes_channels_and_reads_each_sample_width(tmp_path):
    left = np.array([1000, -2000, 32767, -32768], np.int64)
    right = np.array([3000, 2000, 32767, -32768], np.int64)
    for width in (1, 2, 3, 4):
        path = tmp_path / f"s{width}.wav"
        scale = 1 << (8 * width - 16) if width > 2 else 1
        if width == 1:
            frames = np.stack([(left >> 8) + 128, (right >> 8) + 128], axis=1).astype(np.uint8).tobytes()
        else:
            both = np.stack([left * scale, right * scale], axis=1).reshape(-1)
            raw = both.astype("<i8").view(np.uint8).reshape(-1, 8)[:, :width]
            frames = raw.tobytes()
        with wave.open(str(path), "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(width)
            w.setframerate(16000)
            w.writeframes(frames)
        got = audio.read_wav(path).tolist()
        if width == 1:   # 8-bit keeps the top 8 bits of each channel
            expected = np.floor(((left >> 8 << 8) + (right >> 8 << 8)) / 2 + 0.5).astype(int).tolist()
        else:
            expected = np.floor((left + right) / 2 + 0.5).astype(int).tolist()
        assert got == expected, width


def test_mic_arguments_are_clear_errors(tmp_path):
    def run(args):
        return subprocess.run(TINYML + args, cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=60)

    proc = run(["record", "--port", "sim", "--sensor", "mic", "--label", "yes", "--mic", "nothing.wav"])
    assert proc.returncode == 1 and "--mic nothing.wav: no such file or folder" in proc.stderr
    (tmp_path / "empty").mkdir()
    proc = run(["sim", "--mic", "empty"])
    assert proc.returncode == 1 and "the folder holds no .wav files" in proc.stderr
    (tmp_path / "bad.wav").write_bytes(b"RIFF0000WAVEjunk")
    proc = run(["record", "--port", "sim", "--sensor", "mic", "--label", "yes", "--mic", "bad.wav"])
    assert proc.returncode == 1 and "bad.wav: not a PCM WAV file" in proc.stderr
    proc = run(["record", "--port", "/dev/null", "--sensor", "mic", "--label", "yes", "--mic", "x.wav"])
    assert proc.returncode == 1 and "--mic feeds the virtual board's microphone: use it with --port sim" in proc.stderr


@needs_speech
def test_recorded_clips_are_a_dataset_train_kws_and_evaluate_read(tmp_path):
    """What `tinyml record --sensor mic` writes is what `tinyml train kws` and `tinyml evaluate`
    read, with nothing moved or renamed: three clips of each word from the virtual board's
    microphone train a (two-epoch, so not accurate) model whose split and evaluation name every
    recorded clip, and the clips are ordinary files of the user's (the umask's mode, not 0600)."""
    def run(args, timeout=300):
        proc = subprocess.run(TINYML + args, cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    for word, clip in (("yes", YES), ("no", NO)):
        run(["record", "--port", "sim", "--sensor", "mic", "--label", word, "--count", "3", "--mic", str(clip),
             "--countdown", "0", "--data", "ds"])
    recorded = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "ds").glob("*/*.wav"))
    assert len(recorded) == 6
    umask = os.umask(0)
    os.umask(umask)
    for path in (tmp_path / "ds").glob("*/*"):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path

    run(["train", "kws", "ds", "-o", "out/k.tflite", "--model", "dnn", "--no-compare", "--epochs", "2", "--copies", "0",
         "--espeak", "0", "--flite", "0"])
    report = json.loads((tmp_path / "out" / "k.report.json").read_text())
    assert set(report["classes"]) == {"yes", "no", "silence"}
    split = report["split"]
    train = {g.split(":", 1)[1] for g in split["train_groups"] if g.startswith("recording:")}
    test = {g.split(":", 1)[1] for g in split["test_groups"] if g.startswith("recording:")}
    assert not train & test and sorted(train | test) == recorded

    result = json.loads(run(["evaluate", "out/k.tmdl", "ds", "--json"]))
    assert result["kind"] == "audio" and result["examples"] == 6
    assert sorted(("ds/" + f["path"], f["label"]) for f in result["files"]) == [
        (path, path.split("/")[1]) for path in recorded]
