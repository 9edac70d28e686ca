"""Keyword spotting from a folder of WAV clips (audio.py): one-second clips, `silence` and
`unknown` made from the data, augmentation, the front end's features (features.py, what the
board computes bit-exactly), a DNN on dense layers ("Hello Edge"), full int8 by the TFLite
converter, the .tmdl, the .classes and a report.

    from tinyml_host import kws
    result = kws.train_kws("data/words", "models/kws.tflite")
    result.report["int8_accuracy"], result.report["per_class"]

Front ends (both TensorFlow's micro frontend at micro_speech's 30 ms / 20 ms / 40 channels):
- "micro": with its noise reduction and PCAN gain control, as speech_commands trains with
  `--preprocess=micro` and TFLM's micro_speech runs;
- "logmel": tinyml's own setting of the same front end, noise reduction and PCAN off (smoothing
  0, min_signal_remaining 1 make noise reduction the identity): plain log mel energies.
Model input: the uint16 frames of a clip, flattened, times FEATURE_SCALE; the board turns them
into int8 with features.to_int8 and the model's input scale and zero point (frontend_params).

The test split holds out whole speakers where the file names say who spoke (audio_data.group_of),
whole recordings otherwise; augmentation touches training clips only.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from . import audio_data, features, gesture
from .errors import TinymlError
from .files import atomic_write

CLIP_SAMPLES = audio_data.RATE          # one second: what the model hears at once
FRONTENDS = {
    "micro": features.MICRO_SPEECH,
    "logmel": replace(features.MICRO_SPEECH, even_smoothing=0.0, odd_smoothing=0.0, min_signal_remaining=1.0,
                      enable_pcan=False),
}
FEATURE_SCALE = features.MICRO_SPEECH_FEATURE_SCALE   # speech_commands' float features: v * 10 / 256
SILENCE, UNKNOWN = "silence", "unknown"
SEED = 22
HIDDEN = (128, 128, 128)
CNN_FILTERS = (16, 32)
DROPOUT = 0.2
EPOCHS = 40
BATCH = 64
TEST_FRACTION = 0.25
SYNTHETIC_ESPEAK = 60    # espeak-ng voices training adds saying each keyword (speech_synth.voices)
SYNTHETIC_FLITE = 80     # and flite voices, where flite is installed
NOISE_TEST_FRACTION = 0.2  # the last part of each noise recording: test silence only, never mixed into training
# A board's front end runs all along: its noise estimate has settled on the room before a word
# comes. Each clip is heard that way (heard): LISTEN_SECONDS of background noise first, the same
# noise continuing under the clip, at a level drawn from NOISE_FLOOR_DBFS (RMS, dB of full scale;
# EVALUATE_FLOOR_DBFS for test clips and `tinyml evaluate`), never below the recording's own room
# (recording_floor_dbfs). 1 s of listening left the estimate unsettled; -60..-40 dBFS cost the quiet
# speaker's own-voice accuracy (docs/kws.md).
LISTEN_SECONDS = 2.0
NOISE_FLOOR_DBFS = (-75.0, -55.0)
EVALUATE_FLOOR_DBFS = -65.0
FRONTEND_FORMAT = "tinyml-frontend/1"


@dataclass(frozen=True)
class Augment:
    """What training does to each clip it copies (speech_commands' time shift and noise,
    plus speed perturbation and gain)."""
    copies: int = 3                     # augmented copies per training clip, beside the clip itself
    shift_ms: float = 100.0             # uniform time shift within +-shift_ms
    speed: float = 0.2                  # speed (and pitch) factor uniform in 1 +- speed (FSDD bench: 0.2 > 0.1)
    gain_db: float = 6.0                # gain uniform in +-gain_db
    noise_probability: float = 0.8
    snr_db: tuple = (5.0, 10.0, 20.0)   # background noise mixed at one of these SNRs
    freq_mask: int = 0                  # SpecAugment on the copies' frames: up to this many channels zeroed
    time_mask: int = 0                  # and up to this many frames
    warp: float = 0.0                   # vocal tract length perturbation on the copies' frames: 1 +- warp


NO_AUGMENT = Augment(copies=0)


@dataclass
class Example:
    audio: np.ndarray   # int16, CLIP_SAMPLES
    label: str          # a class name (words, SILENCE, UNKNOWN)
    group: str          # what the split kept together
    name: str           # the source, for the report


def fit_clip(x: np.ndarray, samples: int = CLIP_SAMPLES) -> np.ndarray:
    """A clip to exactly `samples`: shorter ones centred in silence, longer ones cut to their
    loudest stretch (where the word is)."""
    x = np.asarray(x, np.int16)
    if len(x) <= samples:
        before = (samples - len(x)) // 2
        return np.pad(x, (before, samples - len(x) - before))
    energy = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
    start = int(np.argmax(energy[samples:] - energy[:-samples]))
    return x[start:start + samples]


def synthetic_noise(seconds: float, seed: int) -> np.ndarray:
    """Pink-ish noise for datasets without a _background_noise_ folder: white noise through a
    one-pole low-pass mixed with itself, about -30 dBFS."""
    rng = np.random.default_rng(seed)
    n = int(seconds * audio_data.RATE)
    white = rng.standard_normal(n)
    low = np.empty(n)
    acc = 0.0
    for i in range(0, n, 4096):  # a recursive filter, block by block with its state carried
        block = white[i:i + 4096]
        out = np.empty(len(block))
        for j, v in enumerate(block):
            acc = 0.97 * acc + 0.03 * v
            out[j] = acc
        low[i:i + 4096] = out
    mix = 0.3 * white / white.std() + low / low.std()
    return np.clip(np.round(mix / mix.std() * 1000), -32768, 32767).astype(np.int16)


def noise_pools(ds: audio_data.Dataset, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(training noise, test noise): each background recording split in time, the last
    NOISE_TEST_FRACTION for test silence only, so no noise sample is on both sides; synthetic
    noise (separate seeds) when the dataset has none."""
    train, test = [], []
    for clip in ds.noise:
        cut = int(len(clip.audio) * (1 - NOISE_TEST_FRACTION))
        if cut >= CLIP_SAMPLES and len(clip.audio) - cut >= CLIP_SAMPLES:
            train.append(clip.audio[:cut])
            test.append(clip.audio[cut:])
    if not train:
        train = [synthetic_noise(20.0, seed)]
        test = [synthetic_noise(5.0, seed + 1)]
    return train, test


def noise_slice(pool: list[np.ndarray], rng, samples: int = CLIP_SAMPLES) -> np.ndarray:
    source = pool[rng.integers(len(pool))]
    start = rng.integers(0, len(source) - samples + 1)
    return source[start:start + samples]


ROOM_EDGE_FRAMES = 5       # recording_floor_dbfs looks for the room in a clip's first and last 100 ms
ROOM_CAP_DBFS = -40.0      # and never takes it as louder than this (a word cut tight is not a room)


def recording_floor_dbfs(clip: np.ndarray, frame: int = 320) -> float | None:
    """The level (RMS, dBFS) of the quietest 20 ms in the first and last ROOM_EDGE_FRAMES frames
    of a clip's stretch between digital silence (where a recording trimmed to its word still has
    the room it was made in), at most ROOM_CAP_DBFS. None for a clip with no such stretch (all
    digital silence, or shorter than a frame)."""
    x = np.asarray(clip, np.float64)
    nz = np.flatnonzero(x)
    if not len(nz) or nz[-1] - nz[0] + 1 < frame:
        return None
    x = x[nz[0]:nz[-1] + 1]
    x = x[:len(x) // frame * frame].reshape(-1, frame)
    edges = np.concatenate([x[:ROOM_EDGE_FRAMES], x[-ROOM_EDGE_FRAMES:]])
    quietest = float(np.sqrt(np.mean(edges ** 2, axis=1)).min())
    return min(ROOM_CAP_DBFS, 20 * np.log10(quietest / 32768.0)) if quietest > 0 else None


def heard(clip: np.ndarray, pool: list[np.ndarray], rng, level_dbfs: float | None, lead: int) -> np.ndarray:
    """A clip as a board that has been listening hears it: `lead` samples (listen_samples:
    LISTEN_SECONDS in whole hops of the front end) of noise from `pool`
    at level_dbfs (RMS; drawn uniformly from NOISE_FLOOR_DBFS when None) or at the clip's own
    room (recording_floor_dbfs) where that is louder, then the clip with that noise going on
    under it. Its features are the front end's last frames over these
    samples (heard_frames): the same frames as over the clip alone, but with the front end's
    noise estimate settled, as on a board. Without it, a clip padded with digital silence
    starts from an estimate of zero, and PCAN (gain over that estimate) turns whatever the
    recording starts with, a word or its own hiss, into a full-scale onset across every channel."""
    clip = np.asarray(clip, np.int16)
    pieces = [noise_slice([s if len(s) >= samples else np.resize(s, samples) for s in pool], rng, samples)
              for samples in (lead, len(clip)) if samples]
    n = np.concatenate(pieces).astype(np.float64) if pieces else np.zeros(0)
    level = rng.uniform(*NOISE_FLOOR_DBFS) if level_dbfs is None else level_dbfs
    own = recording_floor_dbfs(clip)
    if own is not None:   # no quieter than the recording's own room: no step where it starts
        level = max(level, own)
    rms = float(np.sqrt(np.mean(n ** 2))) if len(n) else 0.0
    if rms > 0:
        n *= 32768.0 * 10 ** (level / 20) / rms
    n[lead:] += clip
    return np.clip(np.round(n), -32768, 32767).astype(np.int16)


def augment(x: np.ndarray, rng, noise: list[np.ndarray], a: Augment) -> np.ndarray:
    """One augmented copy of a one-second int16 clip."""
    y = x
    if a.speed:
        speed = rng.uniform(1 - a.speed, 1 + a.speed)
        # played `speed` times faster: read as if recorded at RATE * speed
        y = fit_clip(audio_data.resample(y, int(round(audio_data.RATE * speed)), audio_data.RATE))
    y = y.astype(np.float64)
    if a.shift_ms:
        limit = int(a.shift_ms * audio_data.RATE / 1000)
        shift = int(rng.integers(-limit, limit + 1))
        y = np.roll(y, shift)
        if shift > 0:
            y[:shift] = 0
        elif shift < 0:
            y[shift:] = 0
    if a.gain_db:
        y *= 10 ** (rng.uniform(-a.gain_db, a.gain_db) / 20)
    if a.snr_db and rng.random() < a.noise_probability:
        n = noise_slice(noise, rng).astype(np.float64)
        active = y[y != 0]  # the word, not the silence it was padded with
        speech_power = float(np.mean(active ** 2)) if len(active) else 0.0
        noise_power = float(np.mean(n ** 2))
        if speech_power > 0 and noise_power > 0:
            snr = a.snr_db[rng.integers(len(a.snr_db))]
            y = y + n * np.sqrt(speech_power / noise_power / 10 ** (snr / 10))
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)


# --- from a dataset to examples and a split --------------------------------------------------

@dataclass
class Split:
    classes: list[str]
    train: list[Example]
    test: list[Example]
    noise_train: list[np.ndarray] = field(repr=False, default_factory=list)
    how: str = ""        # how the test set was held out, for the report

    def groups(self, part: str) -> list[str]:
        return sorted({e.group for e in getattr(self, part)})


def classes_of(labels: list[str], words: list[str] | None, silence: bool) -> tuple[list[str], dict]:
    """(classes, label -> class): words keep their name, other labels become UNKNOWN."""
    if words:
        missing = [w for w in words if w not in labels]
        if missing:
            raise TinymlError(f"--words {', '.join(missing)}: no such label folder (labels: {', '.join(labels)})")
        mapping = {label: (label if label in words else UNKNOWN) for label in labels}
    else:
        mapping = {label: label for label in labels}
    for reserved in (SILENCE, UNKNOWN):
        if reserved in labels:
            raise TinymlError(f"a label folder named {reserved!r}: tinyml makes that class itself; rename the folder")
    classes = sorted(set(mapping.values()) - {UNKNOWN})
    if UNKNOWN in mapping.values():
        classes.append(UNKNOWN)
    if silence:
        classes.append(SILENCE)
    if len(classes) < 2:
        raise TinymlError(f"need at least 2 classes; the dataset gives {classes}")
    return classes, mapping


def _balance_unknown(examples: list[Example], rng) -> list[Example]:
    """Keep at most as many UNKNOWN examples as the largest keyword class has: speech_commands'
    share of unknown, so the model is not tuned to answer "unknown"."""
    counts = {}
    for e in examples:
        counts[e.label] = counts.get(e.label, 0) + 1
    words = [n for label, n in counts.items() if label != UNKNOWN]
    unknown = [e for e in examples if e.label == UNKNOWN]
    if not words or len(unknown) <= max(words):
        return examples
    keep = {id(unknown[i]) for i in rng.choice(len(unknown), max(words), replace=False)}
    return [e for e in examples if e.label != UNKNOWN or id(e) in keep]


def _silence(count: int, pool: list[np.ndarray], rng, where: str) -> list[Example]:
    """Silence clips: slices of background noise at a random level, from near-zero up to as
    recorded (speech_commands' silence)."""
    out = []
    for k in range(count):
        level = rng.uniform(0.0, 1.0)
        clip = np.round(noise_slice(pool, rng).astype(np.float64) * level).astype(np.int16)
        out.append(Example(clip, SILENCE, f"silence:{where}", f"silence {where} {k}"))
    return out


def split(ds: audio_data.Dataset, words: list[str] | None = None, silence: bool = True,
          test: Callable[[audio_data.Clip], bool] | None = None, test_fraction: float = TEST_FRACTION,
          seed: int = SEED) -> Split:
    """Examples of every clip, the test set held out by group (whole speakers or recordings):
    the groups in a seeded order, the last test_fraction of them (at least one) for testing;
    or `test(clip)` decides (the benchmark's own-voice split). Silence comes from disjoint parts
    of the noise, as many clips as the median class has."""
    classes, mapping = classes_of(ds.labels, words, silence)
    rng = np.random.default_rng(seed)
    if test is None:
        groups = sorted({c.group for c in ds.clips})
        if len(groups) < 2:
            raise TinymlError(f"all clips of {ds.root} are one {groups[0].split(':')[0]}: a test set needs another "
                              "speaker (or recording) than training; record more, or name files <speaker>_nohash_<n>.wav")
        order = [groups[i] for i in rng.permutation(len(groups))]
        n_test = min(len(groups) - 1, max(1, int(round(test_fraction * len(groups)))))
        held = set(order[-n_test:])
        test = lambda c: c.group in held  # noqa: E731
        how = f"{n_test} of {len(groups)} {'speakers' if groups[0].startswith('speaker:') else 'groups'} held out whole"
    else:
        how = "held out by the caller's rule"
    parts = {"train": [], "test": []}
    for c in ds.clips:
        parts["test" if test(c) else "train"].append(Example(fit_clip(c.audio), mapping[c.label], c.group, str(c.path)))
    for part in parts:
        if not parts[part]:
            raise TinymlError(f"the split leaves no {part} clips")
        parts[part] = _balance_unknown(parts[part], rng)
    noise_train, noise_test = noise_pools(ds, seed)
    if silence:
        for part, pool in (("train", noise_train), ("test", noise_test)):
            counts = [sum(e.label == c for e in parts[part]) for c in classes if c != SILENCE]
            parts[part] += _silence(int(np.median(counts)), pool, rng, part)
    return Split(classes, parts["train"], parts["test"], noise_train, how)


def add_synthetic(sp: Split, ds: audio_data.Dataset, espeak: int, flite: int, seed: int = SEED, log=print) -> dict:
    """Each keyword class (not silence or unknown) said by `espeak` espeak-ng and `flite` flite
    voices (speech_synth.spoken: trimmed to the word, and passed through the dataset's lowest
    sample rate when that is below 16 kHz, so no voice carries more bandwidth than the
    recordings), added to the training side only: the held-out speakers are still real ones.
    A synthesizer that is not installed adds none, and the returned summary (for the report)
    says so."""
    from . import speech_synth

    words = [c for c in sp.classes if c not in (SILENCE, UNKNOWN)]
    if espeak and not speech_synth.available():
        log(f"{speech_synth.ESPEAK} is not installed: no espeak-ng voices added (apt-get install espeak-ng)")
        espeak = 0
    if flite and not speech_synth.flite_available():
        log("flite is not installed: no flite voices added (apt-get install flite)")
        flite = 0
    rates = [c.rate for c in ds.clips]
    through = min(rates) if rates and min(rates) < audio_data.RATE else None
    added = 0
    if words and (espeak or flite):
        log(f"synthetic voices: {espeak} espeak-ng and {flite} flite saying {', '.join(words)}"
            + (f", through {through} Hz as the recordings" if through else "") + " ...")
        for name, word, x in speech_synth.spoken(words, espeak, flite, seed, through_rate=through):
            sp.train.append(Example(fit_clip(x), word, f"synthetic:{name}", f"{name} {word}"))
            added += 1
    return {"espeak_voices": espeak, "flite_voices": flite, "clips": added, "through_rate": through}


# --- features -------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _evaluation_noise() -> np.ndarray:
    return synthetic_noise(3.0, SEED)


def heard_as_evaluated(clip: np.ndarray, lead: int, level_dbfs: float = EVALUATE_FLOOR_DBFS) -> np.ndarray:
    """A test clip heard (heard) the one way the training report and `tinyml evaluate` both
    hear it: after the same synthetic noise at one level, so both score a clip alike."""
    return heard(clip, [_evaluation_noise()], np.random.default_rng(0), level_dbfs, lead)


def clip_frames(config: features.FrontendConfig, samples: int = CLIP_SAMPLES) -> int:
    """How many frames the front end makes of `samples` samples."""
    p = features.plan(config)
    return 1 + (samples - p.window_samples) // p.step_samples


def listen_samples(config: features.FrontendConfig) -> int:
    """LISTEN_SECONDS in whole hops: the clip's frames then fall where they fall over the clip alone."""
    step = features.plan(config).step_samples
    return step * max(1, int(round(LISTEN_SECONDS * audio_data.RATE / step)))


def heard_frames(clips: list[np.ndarray], config: features.FrontendConfig, pool: list[np.ndarray], seed: int,
                 level_dbfs: float | None = None, first: int = 0) -> np.ndarray:
    """(n, frames, channels) uint16: each clip heard (see heard), the front end from reset over
    the listening and the clip, its frames of the clip kept (as many as of the clip alone).
    Clip k's noise and level are drawn by its own generator, seeded (seed, first + k), so a list
    cut in parts (kws_bench's processes) gets the frames of the whole."""
    lead = listen_samples(config)
    out = [features.microfrontend(heard(c, pool, np.random.default_rng((seed, first + k)), level_dbfs, lead),
                                  config)[-clip_frames(config, len(c)):]
           for k, c in enumerate(clips)]
    return np.stack(out) if out else np.zeros((0, 0, 0), np.uint16)


def model_input(f: np.ndarray) -> np.ndarray:
    """Float model input from uint16 frames: flattened, times FEATURE_SCALE."""
    return (np.asarray(f, np.float32).reshape(len(f), -1) * np.float32(FEATURE_SCALE)).astype(np.float32)


def augmented_audio(sp: Split, a: Augment, seed: int = SEED) -> tuple[list[np.ndarray], np.ndarray]:
    """Training clips and their copies (silence is noise already: copied unchanged in level
    but shifted in time by drawing new slices), with class indices."""
    rng = np.random.default_rng(seed + 1)
    clips, labels = [], []
    for e in sp.train:
        y = sp.classes.index(e.label)
        clips.append(e.audio)
        labels.append(y)
        for _ in range(a.copies):
            if e.label == SILENCE:
                clips.append(np.round(noise_slice(sp.noise_train, rng) * rng.uniform(0, 1)).astype(np.int16))
            else:
                clips.append(augment(e.audio, rng, sp.noise_train, a))
            labels.append(y)
    return clips, np.array(labels, np.int64)


@dataclass
class Features:
    """One front end's features of a split: float inputs for Keras, uint16 frames for int8."""
    frontend: str
    x_train: np.ndarray
    y_train: np.ndarray
    frames_test: np.ndarray
    y_test: np.ndarray

    @property
    def x_test(self) -> np.ndarray:
        return model_input(self.frames_test)


def mask_frames(f: np.ndarray, rng, a: Augment) -> np.ndarray:
    """SpecAugment's masks on (n, frames, channels): one band of 0..freq_mask channels and one
    stretch of 0..time_mask frames set to 0 (the front end's value for no energy) per example."""
    f = f.copy()
    n, t, c = f.shape
    for i in range(n):
        if a.freq_mask:
            w = int(rng.integers(0, a.freq_mask + 1))
            start = int(rng.integers(0, c - w + 1))
            f[i, :, start:start + w] = 0
        if a.time_mask:
            w = int(rng.integers(0, a.time_mask + 1))
            start = int(rng.integers(0, t - w + 1))
            f[i, start:start + w, :] = 0
    return f


def channel_hz(config: features.FrontendConfig) -> np.ndarray:
    """Each channel's centre frequency (Hz): equal steps on the front end's mel scale."""
    mel = lambda f: 1127.0 * np.log1p(np.asarray(f, np.float64) / 700.0)  # noqa: E731
    low, high = mel(config.lower_band_limit), mel(config.upper_band_limit)
    centres = low + (high - low) / (config.num_channels + 1) * np.arange(1, config.num_channels + 1)
    return 700.0 * np.expm1(centres / 1127.0)


def warp_frames(f: np.ndarray, rng, a: Augment, config: features.FrontendConfig) -> np.ndarray:
    """Vocal tract length perturbation (Jaitly and Hinton, 2013) on (n, frames, channels): each
    example's spectrum stretched along frequency by a factor uniform in 1 +- a.warp (a longer or
    shorter vocal tract), by reading each channel at its centre frequency divided by the factor,
    interpolated between channels (the edge channels repeated beyond the range)."""
    hz = channel_hz(config)
    out = np.empty_like(f)
    for i in range(len(f)):
        alpha = rng.uniform(1 - a.warp, 1 + a.warp)
        at = np.interp(hz / alpha, hz, np.arange(len(hz)))
        lo = np.floor(at).astype(np.int64)
        hi = np.minimum(lo + 1, len(hz) - 1)
        w = at - lo
        out[i] = np.round(f[i][:, lo] * (1 - w) + f[i][:, hi] * w).astype(f.dtype)
    return out


def featurize(sp: Split, frontend: str, train_clips: list[np.ndarray], y_train: np.ndarray,
              a: Augment = NO_AUGMENT, seed: int = SEED, config: features.FrontendConfig | None = None) -> Features:
    """Features of the training clips (augmented_audio's order: each clip, then its copies; the
    copies' frames warped and masked as `a` says) and of the test clips, every clip heard over
    the split's noise as a listening board hears it (heard_frames: training's noise under the
    training clips, at levels drawn from NOISE_FLOOR_DBFS; the test clips as `tinyml evaluate`
    hears them, heard_as_evaluated); `config` the front end (FRONTENDS[frontend] unless given)."""
    config = config or FRONTENDS[frontend]
    f = heard_frames(train_clips, config, sp.noise_train or [synthetic_noise(20.0, seed)], seed + 5)
    if a.copies and a.warp:
        copy = np.arange(len(f)) % (1 + a.copies) != 0
        f[copy] = warp_frames(f[copy], np.random.default_rng(seed + 3), a, config)
    if a.copies and (a.freq_mask or a.time_mask):
        copy = np.arange(len(f)) % (1 + a.copies) != 0
        f[copy] = mask_frames(f[copy], np.random.default_rng(seed + 2), a)
    x_train = model_input(f)
    lead, n = listen_samples(config), clip_frames(config)
    test_frames = np.stack([features.microfrontend(heard_as_evaluated(e.audio, lead), config)[-n:] for e in sp.test]) \
        if sp.test else np.zeros((0, n, config.num_channels), np.uint16)
    y_test = np.array([sp.classes.index(e.label) for e in sp.test], np.int64)
    return Features(frontend, x_train, y_train, test_frames, y_test)


# --- the model ------------------------------------------------------------------------------

MODELS = ("dnn", "dnn_cmn", "tiny_conv", "cnn")


def build(kind: str, frames: int, channels: int, n_classes: int, hidden=HIDDEN, dropout: float = DROPOUT,
          seed: int = SEED, batch_size: int | None = None, filters=CNN_FILTERS, logits: bool = False):
    """A Keras model taking the flat (frames * channels) feature vector, so every kind reads the
    same input as the board hands it:
    - dnn: Dense -> batch norm -> ReLU per hidden layer ("Hello Edge"'s DNN; the converter folds
      the batch norm into the dense layer's weights and the ReLU into its activation), dropout
      between, softmax;
    - dnn_cmn: the same after removing each channel's mean over the clip (cepstral mean
      normalisation: a fixed gain per channel, such as a different microphone, cancels). That is
      linear, so for_conversion folds it into the first dense layer and the board runs a plain dnn;
    - tiny_conv: TensorFlow speech_commands' tiny_conv: one 8-filter 10x8 stride-2 convolution,
      dense, softmax;
    - cnn: two convolutions (`filters`: 16 and 32, 3x3, stride 2) with batch norm, dense, softmax.
    logits=True leaves the softmax off the last layer (distillation trains on logits; the same
    weights then go into the softmax model).
    batch_size=1 is for conversion: with a fixed batch the converter makes Flatten one RESHAPE
    (a free batch gives SHAPE/STRIDED_SLICE/PACK, which tinyml does not run). Train with the
    free batch, then copy the weights into the batch-1 twin (for_conversion)."""
    tf = gesture._tf()
    L = tf.keras.layers
    tf.keras.utils.set_random_seed(seed)
    layers = [tf.keras.Input(shape=(frames * channels,), batch_size=batch_size)]
    if kind == "dnn_cmn" and batch_size is None:
        layers += [L.Reshape((frames, channels)), L.Lambda(lambda z: z - tf.reduce_mean(z, axis=1, keepdims=True)),
                   L.Flatten()]
    if kind in ("dnn", "dnn_cmn"):
        for h in hidden:
            layers += [L.Dense(h), L.BatchNormalization(), L.ReLU()]
            if dropout:
                layers.append(L.Dropout(dropout))
    elif kind == "tiny_conv":
        layers += [L.Reshape((frames, channels, 1)), L.Conv2D(8, (10, 8), strides=2, padding="same"), L.ReLU()]
        if dropout:
            layers.append(L.Dropout(dropout))
        layers.append(L.Flatten())
    elif kind == "cnn":
        layers.append(L.Reshape((frames, channels, 1)))
        for n in filters:
            layers += [L.Conv2D(n, (3, 3), strides=2, padding="same"), L.BatchNormalization(), L.ReLU()]
        if dropout:
            layers.append(L.Dropout(dropout))
        layers.append(L.Flatten())
    else:
        raise TinymlError(f"--model {kind}: choose one of {', '.join(MODELS)}")
    layers.append(L.Dense(n_classes, activation=None if logits else "softmax"))
    return tf.keras.Sequential(layers)


def for_conversion(model, kind: str, frames: int, channels: int, n_classes: int, hidden=HIDDEN,
                   filters=CNN_FILTERS):
    """The trained model's batch-1 twin, same weights (see build)."""
    twin = build(kind, frames, channels, n_classes, hidden, batch_size=1, filters=filters)
    weights = model.get_weights()
    if kind == "dnn_cmn":
        # Dense(x - mean_t x) = x @ K' with K'[t, c] = K[t, c] - mean over t' of K[t', c]
        k = weights[0].reshape(frames, channels, -1)
        weights[0] = (k - k.mean(axis=0, keepdims=True)).reshape(frames * channels, -1)
    twin.set_weights(weights)
    return twin


def fit(model, x, y, epochs: int = EPOCHS, seed: int = SEED, loss="sparse_categorical_crossentropy",
        batch_map=None):
    """Adam with a cosine-decaying rate, seeded and deterministic; `loss` for a model of logits
    (distillation) or a Keras Distiller (which computes its own); batch_map(x, y) -> (x, y), if
    given, applied to every batch (kws_bench's mixup)."""
    tf = gesture._tf()
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    steps = -(-len(x) // BATCH)
    schedule = tf.keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=max(1, epochs * steps))
    model.compile(optimizer=tf.keras.optimizers.Adam(schedule), loss=loss,
                  metrics=None if loss is None else ["accuracy"])
    data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    batches = data.batch(BATCH) if batch_map is None else data.batch(BATCH).map(batch_map)
    model.fit(batches.repeat(), epochs=epochs, steps_per_epoch=steps, verbose=0, shuffle=False)
    return model


def frontend_params(frontend: str, input_scale: float, input_zero_point: int,
                    config: features.FrontendConfig | None = None) -> dict:
    """Everything the board needs to compute this model's input from audio: the front end's
    configuration (FRONTENDS[frontend] unless `config` says otherwise) and the conversion of its
    frames to the model's int8 input. Written beside the model (MODEL.frontend.json) and into
    the report until the .tmdl carries it."""
    config = config or FRONTENDS[frontend]
    return {
        "format": FRONTEND_FORMAT,
        "frontend": frontend,
        "config": asdict(config),
        "clip_samples": CLIP_SAMPLES,
        "frames": clip_frames(config),
        "channels": config.num_channels,
        "feature_scale": FEATURE_SCALE,
        "input_scale": float(input_scale),
        "input_zero_point": int(input_zero_point),
        # trained on clips heard by a board already listening (heard): `tinyml evaluate` hears
        # each clip after listen_samples of noise at listen_dbfs and scores the clip's frames
        "listen_samples": listen_samples(config),
        "listen_dbfs": EVALUATE_FLOOR_DBFS,
        "int8": "clamp(floor(v * feature_scale / input_scale + 0.5) + input_zero_point, -128, 127) "
                "(features.to_int8), v the uint16 frame values, frame-major",
    }


def read_frontend_params(path) -> tuple[features.FrontendConfig, dict]:
    from .inputs import read_json

    p = read_json(path, "a front end's parameters (MODEL.frontend.json)")
    if not isinstance(p, dict) or p.get("format") != FRONTEND_FORMAT:
        raise TinymlError(f"{path}: not a tinyml front end file (format {FRONTEND_FORMAT})")
    try:
        config = features.FrontendConfig(**p["config"])
        features.validate(config)
        for key in ("clip_samples", "feature_scale", "input_scale", "input_zero_point"):
            float(p[key])
    except (KeyError, TypeError, ValueError) as e:
        raise TinymlError(f"{path}: damaged front end parameters ({e})") from None
    return config, p


def int8_input(f: np.ndarray, params: dict) -> np.ndarray:
    """uint16 frames (n, frames, channels) -> the model's int8 input, as the board converts."""
    return features.to_int8(np.asarray(f).reshape(len(f), -1), params["input_scale"], params["input_zero_point"],
                            params["feature_scale"])


def int8_scores(tmdl_model, f: np.ndarray, params: dict) -> np.ndarray:
    """int8 outputs of the model through its integer arithmetic (the bit-exact reference)."""
    from . import reference

    return reference.run(tmdl_model, int8_input(f, params)).reshape(len(f), -1).astype(np.int64)


def per_class(scores: np.ndarray, y: np.ndarray, classes: list[str]) -> dict:
    pred = np.argmax(scores, axis=1)
    return {c: (float((pred[y == i] == i).mean()) if (y == i).any() else None) for i, c in enumerate(classes)}


@dataclass
class Trained:
    kind: str
    frontend: str
    model: object
    tflite: bytes
    tmdl_model: object
    params: dict
    float_accuracy: float
    int8_accuracy: float
    int8_scores: np.ndarray
    y_test: np.ndarray
    tmdl_bytes: int

    def row(self, classes) -> dict:
        return {"model": self.kind, "frontend": self.frontend, "float_accuracy": self.float_accuracy,
                "int8_accuracy": self.int8_accuracy, "tmdl_bytes": self.tmdl_bytes,
                "params": int(self.model.count_params()),
                "int8_accuracy_per_kb": self.int8_accuracy / (self.tmdl_bytes / 1024),
                "per_class": per_class(self.int8_scores, self.y_test, classes)}


def train_model(kind: str, frontend: str, x_train: np.ndarray, y_train: np.ndarray, frames_test: np.ndarray,
                y_test: np.ndarray, n_classes: int, hidden=HIDDEN, epochs: int = EPOCHS, seed: int = SEED,
                config: features.FrontendConfig | None = None) -> Trained:
    """Train, convert (the TFLite converter, full int8), export, and score the int8 model on the
    test frames through its integer arithmetic with the board's int8 conversion. `config`: the
    front end the frames came from (FRONTENDS[frontend] unless given), recorded in the model."""
    frames_n, channels = frames_test.shape[1:]
    model = fit(build(kind, frames_n, channels, n_classes, hidden, seed=seed), x_train, y_train, epochs, seed)
    return quantized(model, kind, frontend, x_train, frames_test, y_test, n_classes, hidden, seed=seed,
                     config=config)


def quantized(model, kind: str, frontend: str, x_train: np.ndarray, frames_test: np.ndarray, y_test: np.ndarray,
              n_classes: int, hidden=HIDDEN, filters=CNN_FILTERS, seed: int = SEED,
              config: features.FrontendConfig | None = None) -> Trained:
    """A trained Keras model (build's, of these widths) converted, exported and scored: the
    TFLite converter (full int8) on a representative draw of the training inputs, the .tmdl with
    its front end record (`config`, FRONTENDS[frontend] unless given), the int8 model scored on
    the test frames through its integer arithmetic with the board's int8 conversion."""
    from . import tmdl

    config = config or FRONTENDS[frontend]

    frames_n, channels = frames_test.shape[1:]
    float_scores = model.predict(model_input(frames_test), verbose=0, batch_size=256)
    rng = np.random.default_rng(seed)
    representative = x_train[rng.choice(len(x_train), min(500, len(x_train)), replace=False)]
    twin = for_conversion(model, kind, frames_n, channels, n_classes, hidden, filters)
    data, m, encoded = gesture.int8_model(twin, representative)
    params = frontend_params(frontend, m.input_scale, m.input_zp, config)
    # the .tmdl records its front end (docs/format.md, "Records"), so the keyword app, `tinyml
    # features` and `evaluate` compute what it was trained on: the config and this very int8
    # conversion, as thresholds
    m.frontend = features.frontend_record(config, lambda v: features.to_int8(
        v, params["input_scale"], params["input_zero_point"], params["feature_scale"]))
    encoded = tmdl.encode(m)
    scores = int8_scores(m, frames_test, params)
    return Trained(kind, frontend, model, data, m, params, gesture.accuracy(float_scores, y_test),
                   gesture.accuracy(scores, y_test), scores, y_test, len(encoded))


def pick(candidates: list[Trained], within: float = 0.01) -> Trained:
    """The smallest model whose int8 accuracy is within `within` of the best: accuracy first,
    then bytes (a model twice the size for a point less error is not worth a board's flash)."""
    best = max(t.int8_accuracy for t in candidates)
    return min((t for t in candidates if t.int8_accuracy >= best - within), key=lambda t: t.tmdl_bytes)


def board_estimates(tmdl_model, tmdl_bytes: int) -> dict:
    """Estimated latency of the model (the front end not included) and RAM per board; estimate.py
    prices dense layers only, so a model with convolutions gets none yet."""
    from . import estimate

    if not tmdl_model.is_dense:
        return {}
    rows = estimate.estimate(tmdl_model, tmdl_bytes, estimate.package_sizes(), estimate.load_costs())
    return {r["board"]: {"native_us": r["native_us"], "viper_us": r["viper_us"], "ram_bytes": r["ram_bytes"],
                         "ram_romfs_bytes": r["ram_romfs_bytes"], "verdict": r["verdict"]} for r in rows}


def report_of(sp: Split, chosen: Trained, candidates: list[Trained], others: list[Trained], a: Augment,
              epochs: int, hidden) -> dict:
    m = chosen.tmdl_model
    boards = board_estimates(m, chosen.tmdl_bytes)
    return {
        "task": "kws",
        "classes": sp.classes,
        "model": {"kind": chosen.kind, "hidden": list(hidden) if chosen.kind == "dnn" else None,
                  "params": int(chosen.model.count_params())},
        "frontend": chosen.params,
        "float_accuracy": chosen.float_accuracy,
        "int8_accuracy": chosen.int8_accuracy,
        "per_class": per_class(chosen.int8_scores, chosen.y_test, sp.classes),
        "confusion": gesture.confusion(chosen.int8_scores, chosen.y_test, len(sp.classes)),
        "confusion_of": "int8 model on the held-out clips; rows true class, columns predicted",
        "candidates": [t.row(sp.classes) for t in candidates],
        "chosen_by": "the smallest .tmdl within 1 point of the best int8 accuracy",
        "frontends": {t.frontend: t.row(sp.classes) for t in [chosen, *others]},
        "frontends_note": f"both front ends with the chosen model ({chosen.kind}), same split, same clips",
        "tmdl_bytes": chosen.tmdl_bytes,
        "tflite_bytes": len(chosen.tflite),
        "arena_bytes": int(m.arena_bytes),
        "boards": boards,
        "boards_note": ("latency of the model's invoke only: the front end's cost on the board is not measured yet"
                        if boards else "no per-board estimate: estimate.py prices dense layers only"),
        "split": {"how": sp.how, "train_groups": sp.groups("train"), "test_groups": sp.groups("test"),
                  "train_clips": len(sp.train), "test_clips": len(sp.test)},
        "augment": asdict(a),
        "epochs": epochs,
    }


def output_paths(output) -> dict:
    """models/kws.tflite -> its .tmdl, .classes, .frontend.json, .report.json, .confusion.png"""
    out = Path(output)
    stem = out.with_suffix("")
    return {"tflite": out, "tmdl": out.with_suffix(".tmdl"), "classes": out.with_suffix(".classes"),
            "frontend": Path(f"{stem}.frontend.json"), "report": Path(f"{stem}.report.json"),
            "confusion": Path(f"{stem}.confusion.png")}


def train_kws(data_dir, output="models/kws.tflite", frontend: str = "micro", words: list[str] | None = None,
              model: str = "auto", compare: bool = True, epochs: int = EPOCHS, hidden=HIDDEN, augment_with: Augment = Augment(),
              silence: bool = True, seed: int = SEED, log=print, espeak: int = SYNTHETIC_ESPEAK,
              flite: int = SYNTHETIC_FLITE) -> dict:
    """`tinyml train kws DIR -o OUTPUT`: the files of output_paths beside OUTPUT; returns the report.
    model: one of MODELS, or "auto": each, and the pick() of them exported. With compare, the
    chosen model is trained on the other front end too, same split and clips, for the report.
    espeak, flite: synthetic voices saying the keywords, added to training (add_synthetic)."""
    from . import tmdl

    output = Path(output)
    if output.suffix != ".tflite":
        raise TinymlError(f"-o {output}: give the .tflite path; the .tmdl and the report go beside it")
    if model != "auto" and model not in MODELS:
        raise TinymlError(f"--model {model}: choose auto or one of {', '.join(MODELS)}")
    if frontend not in FRONTENDS:
        raise TinymlError(f"--frontend {frontend}: choose one of {', '.join(FRONTENDS)}")
    ds = audio_data.load(data_dir)
    sp = split(ds, words, silence, seed=seed)
    log(f"{len(sp.train)} training clips, {len(sp.test)} test clips ({sp.how}); classes {', '.join(sp.classes)}")
    synthetic = add_synthetic(sp, ds, espeak, flite, seed, log)
    clips, y = augmented_audio(sp, augment_with, seed)
    kinds = list(MODELS) if model == "auto" else [model]
    feats = {}

    def features_for(name):
        if name not in feats:
            log(f"front end {name}: features of {len(clips)} training clips ({augment_with.copies} augmented "
                f"copies each) and {len(sp.test)} test clips ...")
            feats[name] = featurize(sp, name, clips, y, augment_with, seed)
        return feats[name]

    def train_one(kind, name):
        f = features_for(name)
        log(f"{kind} on {name} features: training ({epochs} epochs), quantizing, exporting ...")
        return train_model(kind, name, f.x_train, f.y_train, f.frames_test, f.y_test, len(sp.classes), hidden,
                           epochs, seed)

    candidates = [train_one(kind, frontend) for kind in kinds]
    chosen = pick(candidates)
    others = [train_one(chosen.kind, n) for n in FRONTENDS if n != frontend] if compare else []
    report = report_of(sp, chosen, candidates, others, augment_with, epochs, hidden)
    report["dataset"] = str(data_dir)
    report["synthetic"] = synthetic
    paths = output_paths(output)
    report["files"] = {k: str(v) for k, v in paths.items()}
    export_files = {
        "tflite": chosen.tflite,
        "tmdl": tmdl.encode(chosen.tmdl_model),  # the same bytes train_model measured
        "classes": "".join(c + "\n" for c in sp.classes).encode(),
        "frontend": json.dumps(chosen.params, indent=1).encode() + b"\n",
        "report": json.dumps(report, indent=1).encode() + b"\n",
    }
    for key, data in export_files.items():
        atomic_write(paths[key], data)
    gesture.plot_confusion(report, paths["confusion"], held_out="clips")
    return report
