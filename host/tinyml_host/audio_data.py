"""Audio datasets (audio_data.py; the microphone's WAV reading and the virtual board's sound are audio.py): folders of WAV files, as keyword spotting trains on them.

Two layouts are read:

    DIR/<label>/<name>.wav         Speech Commands: one folder per label;
    DIR/_background_noise_/*.wav   long noise recordings (optional): silence and noise mixing
    DIR/<label>_<speaker>_<n>.wav  a flat folder named like the Free Spoken Digit Dataset

Every clip is read as 16-bit PCM (first channel), resampled to RATE (16 kHz, what the front end
and the board run at) from any rate. Each clip names the group that must stay on one side of a
train/test split: its speaker where the file name says it (Speech Commands `<speaker>_nohash_<n>`,
FSDD `<label>_<speaker>_<n>`, and the synthetic voices of speech_synth.py, which use the Speech
Commands form), else the recording itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import features
from .errors import TinymlError

RATE = 16000
NOISE_FOLDER = "_background_noise_"
_SPEECH_COMMANDS_NAME = re.compile(r"^(?P<speaker>[^_]+)_nohash_\d+$")
_FSDD_NAME = re.compile(r"^(?P<label>[A-Za-z0-9-]+)_(?P<speaker>[A-Za-z0-9-]+)_\d+$")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")


@dataclass
class Clip:
    path: Path
    label: str
    group: str          # "speaker:<name>" or "recording:<path>": what a split keeps together
    rate: int           # the file's own sample rate
    audio: np.ndarray   # int16 at RATE

    @property
    def speaker(self) -> str | None:
        return self.group.split(":", 1)[1] if self.group.startswith("speaker:") else None

    @property
    def seconds(self) -> float:
        return len(self.audio) / RATE


@dataclass
class Dataset:
    root: Path
    clips: list[Clip]
    noise: list[Clip]   # the _background_noise_ recordings, label "_background_noise_"

    @property
    def labels(self) -> list[str]:
        return sorted({c.label for c in self.clips})


def resample(audio: np.ndarray, rate_in: int, rate_out: int = RATE, half_taps: int = 16) -> np.ndarray:
    """int16 audio from rate_in to rate_out. Integer up-sampling factors use features.upsample
    (the resampler docs/features.md describes for FSDD), so a clip gives the same samples here
    as there; other ratios a Hann-windowed sinc interpolation, low-passed at the lower of the
    two Nyquist frequencies. Also used with a non-integer ratio for speed perturbation."""
    x = np.asarray(audio)
    if rate_in <= 0 or rate_out <= 0:
        raise TinymlError(f"sample rates must be positive, got {rate_in} -> {rate_out}")
    if rate_in == rate_out:
        return x.astype(np.int16)
    if rate_out % rate_in == 0:
        return features.upsample(x, rate_out // rate_in)
    x = x.astype(np.float64)
    n_out = int(len(x) * rate_out // rate_in)
    cutoff = min(1.0, rate_out / rate_in)     # of the input's Nyquist frequency
    half = int(np.ceil(half_taps / cutoff))
    taps = np.arange(-half + 1, half + 1)
    out = np.empty(n_out)
    chunk = 8192  # a (chunk, 2 * half) matrix at a time: minutes of noise would not fit at once
    for start in range(0, n_out, chunk):
        t = np.arange(start, min(start + chunk, n_out)) * (rate_in / rate_out)
        k = np.floor(t).astype(np.int64)[:, None] + taps[None, :]
        d = t[:, None] - k
        h = cutoff * np.sinc(cutoff * d) * (0.5 + 0.5 * np.cos(np.pi * d / half))
        inside = (k >= 0) & (k < len(x))
        out[start:start + len(t)] = (np.where(inside, x[np.clip(k, 0, len(x) - 1)], 0.0) * h).sum(axis=1)
    return np.clip(np.floor(out + 0.5), -32768, 32767).astype(np.int16)


def read_clip(path) -> tuple[int, np.ndarray]:
    """(file's rate, int16 samples at RATE); TinymlError naming the file when it is not a
    16-bit PCM WAV."""
    import wave

    try:
        rate, data = features.read_wav(path)
    except (wave.Error, EOFError) as e:
        raise TinymlError(f"{path}: not a PCM WAV file ({e})") from None
    if not 4000 <= rate <= 192000:
        raise TinymlError(f"{path}: sample rate {rate} Hz; expected a recording rate between 4 and 192 kHz")
    return rate, resample(data, rate)


def group_of(path: Path, label: str) -> str:
    stem = path.stem
    m = _SPEECH_COMMANDS_NAME.match(stem)
    if m:
        return f"speaker:{m['speaker']}"
    m = _FSDD_NAME.match(stem)
    if m and m["label"] == label:
        return f"speaker:{m['speaker']}"
    return f"recording:{path}"


def is_audio_folder(data_dir) -> bool:
    d = Path(data_dir)
    return d.is_dir() and (any(d.glob("*.wav")) or any(d.glob("*/*.wav")))


def load(data_dir) -> Dataset:
    """Every clip of DIR (either layout), sorted by label then name."""
    root = Path(data_dir)
    if not root.is_dir():
        raise TinymlError(f"no dataset folder {root}")
    clips, noise = [], []
    flat = sorted(root.glob("*.wav"))
    for path in flat:
        m = _FSDD_NAME.match(path.stem)
        if not m:
            raise TinymlError(f"{path}: a WAV directly in {root} must be named <label>_<speaker>_<n>.wav "
                              "(the FSDD layout); or put clips in one folder per label (Speech Commands layout)")
        rate, audio = read_clip(path)
        clips.append(Clip(path, m["label"], f"speaker:{m['speaker']}", rate, audio))
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        wavs = sorted(folder.glob("*.wav"))
        if not wavs:
            continue
        if folder.name == NOISE_FOLDER:
            for path in wavs:
                rate, audio = read_clip(path)
                noise.append(Clip(path, NOISE_FOLDER, f"recording:{path}", rate, audio))
            continue
        if folder.name.startswith("_"):
            continue  # e.g. Speech Commands' own extras: not a label
        if not _LABEL.match(folder.name):
            raise TinymlError(f"{folder}: a label folder's name must be 1-40 letters, digits, '_' or '-'")
        for path in wavs:
            rate, audio = read_clip(path)
            clips.append(Clip(path, folder.name, group_of(path, folder.name), rate, audio))
    if not clips:
        raise TinymlError(f"{root} holds no WAV clips: one folder per label (Speech Commands layout) or "
                          "<label>_<speaker>_<n>.wav files")
    clips.sort(key=lambda c: (c.label, str(c.path)))
    return Dataset(root, clips, noise)


def summary(ds: Dataset) -> list[dict]:
    """One row per label (and one for the background noise): clips, speakers, seconds, rates."""
    rows = {}
    for c in ds.clips + ds.noise:
        r = rows.setdefault(c.label, {"label": c.label, "clips": 0, "speakers": set(), "seconds": 0.0,
                                      "rates": set()})
        r["clips"] += 1
        if c.speaker:
            r["speakers"].add(c.speaker)
        r["seconds"] += c.seconds
        r["rates"].add(c.rate)
    return [{**r, "speakers": len(r["speakers"]), "rates": sorted(r["rates"])} for r in rows.values()]


def print_summary(ds: Dataset, console=None):
    from . import term
    from rich.table import Table

    table = Table(title=f"audio dataset {ds.root}: {len(ds.clips)} clips, {len(ds.noise)} noise recordings "
                        f"(resampled to {RATE} Hz)")
    for name in ("label", "clips", "speakers", "seconds", "file rates Hz"):
        table.add_column(name, justify="left" if name == "label" else "right")
    for r in summary(ds):
        table.add_row(r["label"], str(r["clips"]), str(r["speakers"]), f"{r['seconds']:.1f}",
                      ", ".join(str(x) for x in r["rates"]))
    (console or term.console()).print(table)


def plot_spectrograms(ds: Dataset, path, config: features.FrontendConfig | None = None) -> Path:
    """A PNG with one log-mel spectrogram per label (its first clip), as the front end computes it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import dataset, kws

    config = config or kws.FRONTENDS["logmel"]
    firsts = {}
    for c in ds.clips + ds.noise[:1]:
        firsts.setdefault(c.label, c)
    columns = min(5, len(firsts))
    rows = -(-len(firsts) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_visible(False)
    for ax, (label, clip) in zip(axes.flat, firsts.items()):
        frames = features.microfrontend(clip.audio[:RATE * 2], config)
        ax.set_visible(True)
        ax.imshow(frames.T, origin="lower", aspect="auto", cmap="magma",
                  extent=(0, len(frames) * config.window_step / 1000, 0, config.num_channels))
        ax.set_title(f"{label}: {clip.path.name}", fontsize=7)
        ax.set_xlabel("s", fontsize=7)
        ax.set_ylabel("mel channel", fontsize=7)
    return dataset.save_figure(fig, path)
