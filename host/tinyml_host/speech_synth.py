"""Synthetic speech from espeak-ng (and flite, whose voices are nearer to a person's), written
as a Speech Commands dataset folder, for tests and for training data beside real recordings.

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
from typing import Callable

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

FLITE = "flite"
# flite's own voices (Debian's flite): two diphone voices and three statistical ones, each
# spoken at several durations and shifted up or down (a shorter or longer vocal tract: pitch
# and formants together, by resampling), so each (voice, stretch, shift) is one speaker
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
FLITE_STRETCHES = (0.8, 0.95, 1.1, 1.3)   # flite's duration_stretch: > 1 is slower
FLITE_SHIFTS = (0.88, 0.96, 1.04, 1.12)   # spectrum scaled by this (played this much faster)


def available() -> bool:
    return shutil.which(ESPEAK) is not None


def flite_available() -> bool:
    return shutil.which(FLITE) is not None


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


def flite_speakers() -> list[tuple[str, float, float]]:
    """Every (voice, stretch, shift) flite_speak takes: 80 synthetic speakers."""
    return [(v, st, sh) for v in FLITE_VOICES for st in FLITE_STRETCHES for sh in FLITE_SHIFTS]


def flite_speak(word: str, voice: str, stretch: float = 1.0, shift: float = 1.0) -> tuple[int, np.ndarray]:
    """One word from flite (16 kHz with Debian's flite 2.2): duration times `stretch`, then its
    spectrum (pitch and formants) scaled by `shift`, by resampling: (rate, int16 samples)."""
    if not flite_available():
        raise TinymlError(f"{FLITE} is not installed (Debian/Ubuntu: apt-get install flite)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "word.wav"
        done = subprocess.run([FLITE, "-voice", voice, "--setf", f"duration_stretch={stretch}", "-t", word,
                               "-o", str(path)], capture_output=True, text=True)
        if done.returncode != 0 or not path.exists():
            raise TinymlError(f"{FLITE} -voice {voice} failed: {done.stderr.strip() or done.returncode}")
        from . import features

        rate, x = features.read_wav(path)
    if shift != 1.0:
        # read as if recorded at rate * shift: shorter and higher by `shift`
        x = audio_data.resample(x, int(round(rate * shift)), rate)
    return rate, x


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


def voices(espeak: int, flite: int = 0, seed: int = 0) -> list[tuple[str, Callable[[str], tuple[int, np.ndarray]]]]:
    """(speaker name, say(word) -> (rate, int16)) of `espeak` espeak-ng voices (speakers' seeded
    draw) and the first `flite` of flite_speakers."""
    out = [(f"espeak{k}", lambda w, v=v: speak(w, *v)) for k, v in enumerate(speakers(espeak, seed) if espeak else [])]
    if flite > len(flite_speakers()):
        raise TinymlError(f"{flite} flite speakers asked for; flite gives {len(flite_speakers())} here")
    return out + [(f"flite{k}", lambda w, v=v: flite_speak(w, *v)) for k, v in enumerate(flite_speakers()[:flite])]


def spoken(words, espeak: int, flite: int = 0, seed: int = 0, trim_words: bool = True,
           through_rate: int | None = None):
    """Every word by every voice of voices(): (speaker, word, int16 samples at audio_data.RATE).
    trim_words: without the silence around it (trim); through_rate: resampled down to that
    rate and back, so a synthetic voice carries no more bandwidth than recordings made at it
    (FSDD's 8 kHz)."""
    for name, say in voices(espeak, flite, seed):
        for word in words:
            rate, x = say(word)
            if trim_words:
                x = trim(x, rate)
            if through_rate and through_rate < rate:
                x, rate = audio_data.resample(x, rate, through_rate), through_rate
            yield name, word, audio_data.resample(x, rate)


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
