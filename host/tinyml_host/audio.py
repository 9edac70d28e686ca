"""Audio files for the microphone: WAV in (any common rate and channel count, made 16 kHz mono
int16 the way docs/architecture.md "Microphones" describes), WAV out (atomically), and the
virtual board's microphone stream (`tinyml sim --mic FILE_OR_DIR`).

Resampling is band-limited interpolation: each output sample is the input convolved with a
sinc low-pass at the lower of the two Nyquist frequencies, windowed by a Kaiser window
(beta 8, 16 zero crossings each side). A file already at 16 kHz is passed through unchanged,
sample for sample. Channels are mixed to mono by their mean."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from .files import atomic_write
from .errors import TinymlError

RATE_HZ = 16000
_ZEROS = 16
_BETA = 8.0


def read_wav(path) -> np.ndarray:
    """The file's audio as 16 kHz mono int16."""
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate, frames = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            data = w.readframes(frames)
    except (wave.Error, EOFError) as e:
        raise TinymlError(f"{path}: not a PCM WAV file tinyml can read ({e}); convert it to 16-bit PCM WAV") from None
    except OSError as e:
        raise TinymlError(f"{path}: cannot read ({e.strerror or e})") from None
    if width == 1:
        samples = np.frombuffer(data, np.uint8).astype(np.int64) - 128 << 8
    elif width == 2:
        samples = np.frombuffer(data, "<i2").astype(np.int64)
    elif width == 3:
        b = np.frombuffer(data, np.uint8).reshape(-1, 3).astype(np.int64)
        samples = ((b[:, 0] | b[:, 1] << 8 | b[:, 2] << 16) ^ 0x800000) - 0x800000 >> 8
    elif width == 4:
        samples = np.frombuffer(data, "<i4").astype(np.int64) >> 16
    else:
        raise TinymlError(f"{path}: {8 * width}-bit samples; tinyml reads 8, 16, 24 and 32-bit PCM WAV")
    samples = samples[: len(samples) // channels * channels].reshape(-1, channels)
    if channels == 1:
        mono = samples[:, 0]
    else:
        mono = np.floor(samples.mean(axis=1) + 0.5).astype(np.int64)
    if rate == RATE_HZ:
        return mono.astype(np.int16)
    return _to_int16(resample(mono.astype(np.float64), rate, RATE_HZ))


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(x + 0.5), -32768, 32767).astype(np.int16)


def resample(x: np.ndarray, rate_in: int, rate_out: int = RATE_HZ) -> np.ndarray:
    """x (float, at rate_in) at rate_out: round(len(x) * rate_out / rate_in) samples."""
    if rate_in <= 0:
        raise TinymlError(f"sample rate {rate_in} Hz is not a rate")
    ratio = rate_out / rate_in
    cutoff = min(1.0, ratio)            # of the input's Nyquist frequency
    half = int(np.ceil(_ZEROS / cutoff))
    n_out = int(round(len(x) * ratio))
    padded = np.concatenate([np.zeros(half), x, np.zeros(half + 1)])
    taps = np.arange(-half + 1, half + 1)
    out = np.empty(n_out)
    norm = np.i0(_BETA)
    for start in range(0, n_out, 4096):
        t = np.arange(start, min(n_out, start + 4096)) / ratio   # where each output falls in x
        k = np.floor(t).astype(np.int64)
        idx = k[:, None] + taps[None, :]
        d = t[:, None] - idx
        u = np.clip(d / half, -1.0, 1.0)
        window = np.i0(_BETA * np.sqrt(1.0 - u * u)) / norm
        out[start:start + len(t)] = (cutoff * np.sinc(cutoff * d) * window * padded[idx + half]).sum(axis=1)
    return out


def write_wav(path, samples: np.ndarray, rate: int = RATE_HZ) -> Path:
    """A mono int16 WAV, written to a temporary name and renamed into place."""
    path = Path(path)
    data = np.asarray(samples, dtype="<i2").tobytes()

    def write(f):
        with wave.open(f, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(data)

    atomic_write(path, write)
    return path


def mic_files(source) -> list[Path]:
    """`--mic FILE_OR_DIR`: the file, or the folder's .wav files in name order."""
    source = Path(source)
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() == ".wav" and p.is_file())
        if not files:
            raise TinymlError(f"--mic {source}: the folder holds no .wav files")
        return files
    if not source.exists():
        raise TinymlError(f"--mic {source}: no such file or folder")
    return [source]


def prepare_mic(source, sim_dir) -> list[Path]:
    """Write the virtual board's microphone stream (mic.pcm, mic.cues) into sim_dir; source None
    removes it (a silent room). Returns the files it holds, in order."""
    sim_dir = Path(sim_dir)
    pcm, marks = sim_dir / "mic.pcm", sim_dir / "mic.cues"
    for stale in (pcm, marks):
        stale.unlink(missing_ok=True)
    if source is None:
        return []
    files = mic_files(source)
    cues, chunks, at = [], [], 0
    for f in files:
        audio = read_wav(f)
        cues.append(at)
        chunks.append(audio.astype("<i2").tobytes())
        at += len(audio)
    cues.append(at)
    pcm.write_bytes(b"".join(chunks))
    marks.write_text("".join(f"{c}\n" for c in cues))
    return files
