"""Synthetic speech from espeak-ng, written as a Speech Commands dataset folder, for tests and
for training data beside real recordings.

Each voice (an espeak-ng English voice with a variant, at one speed and pitch) is one speaker:
DIR/<word>/<speaker>_nohash_<n>.wav, so the split holds out whole synthetic voices like real
ones. Words are cut out of the silence espeak-ng writes around them (trim). Clips keep espeak-ng's own rate (22050 Hz: loading resamples them, as any recording) and, with snr_db, are mixed with pink-ish noise at that SNR;
DIR/_background_noise_/ gets a noise recording for training's silence and noise mixing.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from . import audio_data
from .errors import TinymlError

ESPEAK = "espeak-ng"
# English voices that ship in espeak-ng itself (the mbrola ones need separate voice data)
VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029",
          "en-us-nyc")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2", "croak",
            "whisper", "grandpa")
SPEEDS = (120, 150, 180)     # words per minute; espeak-ng's default is 175
PITCHES = (30, 50, 70)       # 0..99; default 50


def available() -> bool:
    return shutil.which(ESPEAK) is not None


def speak(word: str, voice: str, variant: str, speed: int, pitch: int) -> tuple[int, np.ndarray]:
    """One word as espeak-ng writes it: (rate, int16 samples); 22050 Hz with espeak-ng 1.51."""
    if not available():
        raise TinymlError(f"{ESPEAK} is not installed (Debian/Ubuntu: apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "word.wav"
        done = subprocess.run([ESPEAK, "-v", f"{voice}+{variant}", "-s", str(speed), "-p", str(pitch),
                               "-w", str(path), word], capture_output=True, text=True)
        if done.returncode != 0 or not path.exists():
            raise TinymlError(f"{ESPEAK} -v {voice}+{variant} failed: {done.stderr.strip() or done.returncode}")
        from . import features

        return features.read_wav(path)


def trim(x: np.ndarray, rate: int, threshold: float = 0.02, margin_ms: float = 20.0) -> np.ndarray:
    """The word without the silence espeak-ng writes around it (about 0.4 s after every word):
    from `margin_ms` before the first to `margin_ms` after the last sample above `threshold` of
    the peak, so a clip fitted to one second has its word centred, as a recording trimmed to the
    word (FSDD) has."""
    x = np.asarray(x)
    loud = np.flatnonzero(np.abs(x.astype(np.int32)) > threshold * max(1, int(np.abs(x.astype(np.int32)).max())))
    if not len(loud):
        return x
    margin = int(margin_ms * rate / 1000)
    return x[max(0, loud[0] - margin):loud[-1] + margin + 1]


def write_wav(path: Path, samples: np.ndarray, rate: int = audio_data.RATE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(samples, "<i2").tobytes())
    return path


def speakers(count: int, seed: int = 0) -> list[tuple[str, str, int, int]]:
    """`count` distinct (voice, variant, speed, pitch), a seeded draw over all combinations."""
    combos = [(v, var, s, p) for v in VOICES for var in VARIANTS for s in SPEEDS for p in PITCHES]
    rng = np.random.default_rng(seed)
    if count > len(combos):
        raise TinymlError(f"{count} synthetic speakers asked for; espeak-ng gives {len(combos)} here")
    return [combos[i] for i in rng.choice(len(combos), count, replace=False)]


def synthesize(data_dir, words, n_speakers: int = 12, snr_db: float | None = 20.0, noise_seconds: float = 30.0,
               seed: int = 0, prefix: str = "espeak", trim_words: bool = True) -> Path:
    """DIR/<word>/<prefix><k>_nohash_0.wav for each word and speaker, and a background noise file.
    trim_words: each word without espeak-ng's silence around it (trim), so training centres it."""
    from .kws import synthetic_noise

    root = Path(data_dir)
    rng = np.random.default_rng(seed)
    noise = synthetic_noise(noise_seconds + 10, seed + 7)  # at 16 kHz; its spectrum is what matters here
    for k, (voice, variant, speed, pitch) in enumerate(speakers(n_speakers, seed)):
        for word in words:
            rate, clip = speak(word, voice, variant, speed, pitch)
            if trim_words:
                clip = trim(clip, rate)
            clip = clip.astype(np.float64)
            if snr_db is not None:
                start = rng.integers(0, len(noise) - len(clip))
                n = noise[start:start + len(clip)].astype(np.float64)
                active = clip[np.abs(clip) > 0]
                gain = np.sqrt(np.mean(active ** 2) / np.mean(n ** 2) / 10 ** (snr_db / 10)) if len(active) else 0.0
                clip = clip + gain * n
            write_wav(root / word / f"{prefix}{k}_nohash_0.wav",
                      np.clip(np.round(clip), -32768, 32767).astype(np.int16), rate)
    # a noise recording of its own seed: what training mixes in is not the noise in the clips
    write_wav(root / audio_data.NOISE_FOLDER / "pink.wav", synthetic_noise(noise_seconds, seed + 11))
    return root
