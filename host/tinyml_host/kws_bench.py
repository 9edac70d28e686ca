"""Keyword spotting accuracy on the Free Spoken Digit Dataset (ten digits, three speakers),
measured the way issue 22 states its goals, written as a table:

- own voice: per speaker, trained on recordings 0-34 of each digit, tested on 35-49;
- other voices: each speaker held out in turn (--speaker: only these), trained on the other
  two plus --espeak N synthetic espeak-ng voices saying the digits (default 60) and --flite N
  flite voices (default 80, all of speech_synth.flite_speakers, where flite is installed): what
  `tinyml train kws` adds by default. Their words are trimmed of the synthesizer's silence and
  passed through FSDD's 8 kHz (--no-trim, --no-narrowband: as the synthesizer writes them).

Every clip, test clips too, is heard as `tinyml train kws` hears its training clips
(kws.heard_frames: after 2 s of noise at -75..-55 dBFS, never quieter than the recording's room).

--upper-band HZ ends the front end's mel range there instead of at 7500 Hz (recorded in the
model). Each row: float and int8 accuracy (int8 through the .tmdl's integer arithmetic on the
front end's int8 input, as the board computes it), size. Both front ends (kws.FRONTENDS) unless
--frontend picks one. Features (of every clip and its augmented copies) are cached under
out/cache, FSDD with the espeak-ng voices apart from the flite voices, so a second run trains only.

    PYTHONPATH=host python -m tinyml_host.kws_bench --out out/kws_bench --model cnn --frontend micro
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from . import audio_data, features, kws, speech_synth

ROOT = Path(__file__).resolve().parents[2]
FSDD = ROOT.parent / "shared" / "audio" / "fsdd" / "recordings"
CACHE = ROOT / "out" / "cache"
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
OWN_TRAIN = 35   # recordings 0..34 of each digit train, 35..49 test
FSDD_RATE = 8000
ESPEAK, FLITE, COPIES, SPEED = kws.SYNTHETIC_ESPEAK, kws.SYNTHETIC_FLITE, 3, kws.Augment().speed   # tinyml train kws's


def _heard_part(args):
    clips, config, pool, seed, first = args
    return kws.heard_frames(clips, config, pool, seed, first=first)


def frames_parallel(clips, config, workers: int, seed: int) -> np.ndarray:
    """Each clip heard over the benchmark's floor noise (kws.heard_frames), in `workers` processes."""
    pool = [kws.synthetic_noise(30.0, seed + 9)]
    if workers <= 1:
        return kws.heard_frames(clips, config, pool, seed)
    from multiprocessing import get_context

    step = 64
    parts = [(clips[i:i + step], config, pool, seed, i) for i in range(0, len(clips), step)]
    with get_context("fork").Pool(workers) as procs:  # forked before TensorFlow is imported
        return np.concatenate(procs.map(_heard_part, parts))


def corpus(espeak: int, a: kws.Augment, seed: int, trim: bool = False, narrowband: bool = False):
    """Clips (FSDD, then `espeak` synthetic espeak-ng voices), their digit, speaker, index, and
    `copies` augmented copies each. trim: synthetic words without espeak-ng's trailing silence;
    narrowband: synthetic clips through FSDD's 8 kHz (resampled down, then up as FSDD's are)."""
    ds = audio_data.load(FSDD)
    clips, digit, speaker, index = [], [], [], []
    for c in ds.clips:
        clips.append(kws.fit_clip(c.audio))
        digit.append(int(c.label))
        speaker.append(c.speaker)
        index.append(int(c.path.stem.split("_")[2]))
    return _with_synthetic(clips, digit, speaker, index, espeak, 0, a, seed, seed, trim, narrowband)


def flite_corpus(flite: int, a: kws.Augment, seed: int, trim: bool = False, narrowband: bool = False):
    """The same for the first `flite` of speech_synth.flite_speakers alone: a part of its own, so
    adding flite voices leaves the features of FSDD and the espeak-ng voices in the cache."""
    return _with_synthetic([], [], [], [], 0, flite, a, seed, seed + 1, trim, narrowband)


def _with_synthetic(clips, digit, speaker, index, espeak, flite, a, seed, augment_seed, trim, narrowband):
    for name, word, x in speech_synth.spoken(DIGITS, espeak, flite, seed, trim, FSDD_RATE if narrowband else None):
        clips.append(kws.fit_clip(x))
        digit.append(DIGITS.index(word))
        speaker.append(name)
        index.append(0)
    noise = [kws.synthetic_noise(60.0, seed)]
    rng = np.random.default_rng(augment_seed)
    augmented = [[kws.augment(x, rng, noise, a) for _ in range(a.copies)] for x in clips]
    return clips, np.array(digit), np.array(speaker), np.array(index), augmented


def cached_frames(frontend: str, config, make_corpus, key: str, workers: int, seed: int):
    """(plain frames, augmented frames, digit, speaker, index) of the corpus through `config`
    (each clip heard, frames_parallel),
    from the cache when it holds them; make_corpus() (synthesis, augmentation: the slow part) only
    when it does not."""
    key = hashlib.sha256(repr((key, config)).encode()).hexdigest()[:12]
    path = CACHE / f"kws_bench-{frontend}-{key}.npz"
    if path.exists():
        z = np.load(path)
        if "digit" in z:
            return z["plain"], z["augmented"], z["digit"], z["speaker"], z["index"]
    clips, digit, speaker, index, augmented = make_corpus()
    plain = frames_parallel(clips, config, workers, seed)
    flat = [x for copies in augmented for x in copies]
    aug = frames_parallel(flat, config, workers, seed + 1).reshape(len(clips), len(augmented[0]), *plain.shape[1:]) \
        if flat else np.zeros((len(clips), 0, *plain.shape[1:]), np.uint16)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, plain=plain, augmented=aug, digit=digit, speaker=speaker, index=index)
    return plain, aug, digit, speaker, index


def _train_variant(kind, frontend, config, plain, x_train, y_train, y, test_mask, hidden, epochs, seed,
                   label_smoothing: float, dropout: float, mixup: float):
    """The benchmark's screening of training variants kws.train_model does not take: smoothed
    labels, another dropout, mixup (each batch mixed with a shuffled copy of itself by a weight
    drawn from Beta(mixup, mixup)); converted and scored as train_model does."""
    import tensorflow as tf

    frames_n, channels = plain.shape[1:]
    x = kws.model_input(x_train)
    model = kws.build(kind, frames_n, channels, 10, hidden, dropout=dropout, seed=seed)
    loss = tf.keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
    onehot = np.eye(10, dtype=np.float32)[y_train]

    def mix(xb, yb):
        a, b = tf.random.gamma([], mixup), tf.random.gamma([], mixup)
        lam = a / (a + b)
        order = tf.random.shuffle(tf.range(tf.shape(xb)[0]))
        return lam * xb + (1 - lam) * tf.gather(xb, order), lam * yb + (1 - lam) * tf.gather(yb, order)

    kws.fit(model, x, onehot, epochs, seed, loss=loss, batch_map=mix if mixup else None)
    return kws.quantized(model, kind, frontend, x, plain[test_mask], y[test_mask], 10, hidden, seed=seed,
                         config=config)


def run_one(kind, frontend, config, plain, aug, y, train_mask, test_mask, hidden, epochs, seed, a: kws.Augment,
            warp_mask=None, warp_extra: bool = False, label_smoothing: float = 0.0, dropout: float | None = None,
            mixup: float = 0.0):
    """warp_mask: which clips' copies are warped (default: all, when a.warp); warp_extra: the
    warped copies are added beside the unwarped ones instead of replacing them."""
    copies = [aug[train_mask, k] for k in range(aug.shape[1])]
    if a.warp:
        rng = np.random.default_rng(seed + 3)
        which = np.ones(int(train_mask.sum()), bool) if warp_mask is None else warp_mask[train_mask]
        warped = [c.copy() for c in copies] if warp_extra else copies
        for c in warped:
            c[which] = kws.warp_frames(c[which], rng, a, config)
        if warp_extra:
            copies = copies + warped
    if a.freq_mask or a.time_mask:
        rng = np.random.default_rng(seed + 2)
        copies = [kws.mask_frames(c, rng, a) for c in copies]
    x_train = np.concatenate([plain[train_mask]] + copies)
    y_train = np.concatenate([y[train_mask]] * (1 + len(copies)))
    if label_smoothing or dropout is not None or mixup:
        t = _train_variant(kind, frontend, config, plain, x_train, y_train, y, test_mask, hidden, epochs, seed,
                           label_smoothing, kws.DROPOUT if dropout is None else dropout, mixup)
    else:
        t = kws.train_model(kind, frontend, kws.model_input(x_train), y_train, plain[test_mask], y[test_mask], 10,
                            hidden, epochs, seed, config)
    return {"float_accuracy": t.float_accuracy, "int8_accuracy": t.int8_accuracy, "tmdl_bytes": t.tmdl_bytes,
            "params": int(t.model.count_params()), "train_clips": int(len(x_train)), "test_clips": int(test_mask.sum()),
            "upper_band_hz": config.upper_band_limit}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="out/kws_bench")
    p.add_argument("--frontend", choices=list(kws.FRONTENDS), action="append")
    p.add_argument("--model", choices=list(kws.MODELS), action="append", help="default: every kind")
    p.add_argument("--espeak", type=int, default=ESPEAK, help="synthetic voices added to the other-voices training")
    p.add_argument("--flite", type=int, default=FLITE if speech_synth.flite_available() else 0,
                   help=f"flite voices (speech_synth.flite_speakers) added beside them (default {FLITE}, 0 without flite)")
    p.add_argument("--copies", type=int, default=COPIES, help="augmented copies of each training clip")
    p.add_argument("--hidden", default=",".join(map(str, kws.HIDDEN)))
    p.add_argument("--epochs", type=int, default=kws.EPOCHS)
    p.add_argument("--workers", type=int, default=1, help="processes computing features")
    p.add_argument("--only", choices=["own", "other"], help="one of the two experiments")
    p.add_argument("--seed", type=int, default=kws.SEED)
    p.add_argument("--speed", type=float, default=SPEED, help="speed perturbation, 1 +- this")
    p.add_argument("--freq-mask", type=int, default=0, help="SpecAugment: up to this many channels masked")
    p.add_argument("--time-mask", type=int, default=0, help="SpecAugment: up to this many frames masked")
    p.add_argument("--warp", type=float, default=0.0, help="vocal tract length perturbation of the copies, 1 +- this")
    p.add_argument("--warp-voices", choices=["all", "synthetic"], default="all",
                   help="whose copies --warp perturbs: every training clip's or the synthetic voices' only")
    p.add_argument("--warp-extra", action="store_true",
                   help="--warp's copies added beside the unwarped copies instead of replacing them")
    p.add_argument("--dropout", type=float, help=f"dropout before the last layer (default {kws.DROPOUT})")
    p.add_argument("--mixup", type=float, default=0.0, help="mixup of each batch, Beta(this, this) weights (0: off)")
    p.add_argument("--label-smoothing", type=float, default=0.0, help="cross-entropy against labels smoothed by this")
    p.add_argument("--speaker", action="append", help="only these speakers' rows (default: all three)")
    p.add_argument("--upper-band", type=float, help="the front end's upper mel limit, Hz (default: the front end's)")
    p.add_argument("--trim", action=argparse.BooleanOptionalAction, default=True,
                   help="synthetic words without espeak-ng's trailing silence (default on)")
    p.add_argument("--narrowband", action=argparse.BooleanOptionalAction, default=True,
                   help="synthetic clips through 8 kHz, as FSDD's (default on)")
    args = p.parse_args(argv)
    if not FSDD.is_dir():
        raise SystemExit(f"no FSDD recordings at {FSDD}: the benchmark needs them")
    hidden = tuple(int(h) for h in args.hidden.split(","))
    t0 = time.time()
    a = kws.Augment(copies=args.copies, speed=args.speed, freq_mask=args.freq_mask, time_mask=args.time_mask,
                   warp=args.warp)
    # what decides the clips and their features; not the rest of kws.py, which trains
    import inspect

    decides = [inspect.getsource(f) for f in (kws.fit_clip, kws.augment, kws.synthetic_noise, audio_data.resample,
                                              speech_synth.trim, speech_synth.spoken, kws.heard, kws.heard_frames,
                                              kws.recording_floor_dbfs, frames_parallel)] + \
        [kws.LISTEN_SECONDS, kws.NOISE_FLOOR_DBFS, kws.ROOM_EDGE_FRAMES, kws.ROOM_CAP_DBFS]
    audio_augment = repr(replace(a, freq_mask=0, time_mask=0, warp=0.0))   # what changes frames after: not the key
    common = (args.copies, args.seed, audio_augment, decides, args.trim, args.narrowband,
              Path(features.__file__).read_bytes())
    # (cache key, make the part): FSDD with the espeak-ng voices, then the flite voices
    parts = [(repr((args.espeak, *common)),
              lambda: corpus(args.espeak, a, args.seed, args.trim, args.narrowband))]
    if args.flite:
        flite_decides = [inspect.getsource(f) for f in (speech_synth.flite_speak, speech_synth.flite_speakers)]
        parts.append((repr(("flite", args.flite, *common, flite_decides)),
                      lambda: flite_corpus(args.flite, a, args.seed, args.trim, args.narrowband)))
    parts = [(hashlib.sha256(k.encode()).hexdigest()[:12], functools.cache(make)) for k, make in parts]
    rows = []
    for frontend in args.frontend or list(kws.FRONTENDS):
        config = kws.FRONTENDS[frontend]
        if args.upper_band:
            config = replace(config, upper_band_limit=args.upper_band)
        got = [cached_frames(frontend, config, make, key, args.workers, args.seed + 11 * k)
               for k, (key, make) in enumerate(parts)]
        plain, aug, y, speaker, index = (np.concatenate([g[i] for g in got]) for i in range(5))
        print(f"{frontend}: features ready ({time.time() - t0:.0f} s)", flush=True)
        fsdd = np.array([not s.startswith(("espeak", "flite")) for s in speaker.astype(str)])
        people = [str(p) for p in sorted(set(speaker[fsdd])) if not args.speaker or p in args.speaker]
        for kind in args.model or list(kws.MODELS):
            for who in people:
                if args.only in (None, "own"):
                    mine = speaker == who
                    r = run_one(kind, frontend, config, plain, aug, y, mine & (index < OWN_TRAIN),
                                mine & (index >= OWN_TRAIN), hidden, args.epochs, args.seed, a,
                                None if args.warp_voices == "all" else ~fsdd, args.warp_extra,
                                args.label_smoothing, args.dropout, args.mixup)
                    rows.append({"model": kind, "frontend": frontend, "experiment": "own voice", "speaker": who, **r})
                    print(rows[-1], flush=True)
                if args.only in (None, "other"):
                    r = run_one(kind, frontend, config, plain, aug, y, speaker != who, speaker == who, hidden,
                                args.epochs, args.seed, a, None if args.warp_voices == "all" else ~fsdd, args.warp_extra,
                                args.label_smoothing, args.dropout, args.mixup)
                    rows.append({"model": kind, "frontend": frontend, "experiment": "other voices", "speaker": who, **r})
                    print(rows[-1], flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    setup = {"hidden": list(hidden), "epochs": args.epochs, "augment": asdict(a), "espeak_voices": args.espeak,
             "flite_voices": args.flite, "warp_voices": args.warp_voices, "warp_extra": args.warp_extra, "label_smoothing": args.label_smoothing,
             "dropout": args.dropout, "mixup": args.mixup,
             "trim": args.trim, "narrowband": args.narrowband,
             "seed": args.seed, "seconds": round(time.time() - t0)}
    (out / "kws_bench.json").write_text(json.dumps({"setup": setup, "rows": rows}, indent=1) + "\n")
    lines = [f"FSDD ten digits (DNN {'-'.join(map(str, hidden))}), augmentation {asdict(a)}, "
             f"{args.espeak} espeak-ng and {args.flite} flite voices in the other-voices training, {args.epochs} epochs", "",
             "| model | front end | experiment | test speaker | float | int8 | .tmdl bytes |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['frontend']} | {r['experiment']} | {r['speaker']} | "
                     f"{r['float_accuracy']:.1%} | {r['int8_accuracy']:.1%} | {r['tmdl_bytes']} |")
    for key in sorted({(r["model"], r["frontend"], r["experiment"]) for r in rows}):
        sel = [r for r in rows if (r["model"], r["frontend"], r["experiment"]) == key]
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | mean | {np.mean([r['float_accuracy'] for r in sel]):.1%} | "
                     f"{np.mean([r['int8_accuracy'] for r in sel]):.1%} | |")
    (out / "kws_bench.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main()
