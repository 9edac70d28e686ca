"""The user's own-data loop on the command line: `tinyml record`, `tinyml data`,
`tinyml train gesture`, `tinyml train kws`, `tinyml evaluate` and `tinyml compress`. cli.py adds these to its table (add_commands) and
turns their TinymlErrors into one message, as for every command."""

from __future__ import annotations

from pathlib import Path

from .errors import TinymlError
from .term import say


def cmd_record(args):
    from . import record

    if args.ble and args.port:
        raise TinymlError("pick one of --ble and --port")
    if args.ble and args.sensor != "imu":
        raise TinymlError(f"--sensor {args.sensor} over --ble: the record app streams the IMU only (one BLE "
                          "notification per IMU sample); record other sensors over USB serial (--port)")
    if args.ble:
        record.record_ble(args.ble, Path(args.data), args.label, board_id=args.board, gesture=args.gesture,
                          seconds=args.seconds, takes=args.takes, seed=args.seed, countdown=args.countdown,
                          live=False if args.no_live else None)
        return
    record.record(args.port, Path(args.data), args.label, board_id=args.board, gesture=args.gesture,
                  sensor=args.sensor, seconds=args.seconds, takes=args.takes, seed=args.seed, countdown=args.countdown,
                  live=False if args.no_live else None, mic=args.mic, count=args.count)


def cmd_data(args):
    from . import audio_data, dataset

    if audio_data.is_audio_folder(args.dir):
        ds = audio_data.load(args.dir)
        audio_data.print_summary(ds)
        png = Path(args.plot) if args.plot else Path(args.dir) / "spectrograms.png"
        print(f"wrote {audio_data.plot_spectrograms(ds, png)}")
        return
    takes = dataset.load(args.dir)
    dataset.print_summary(takes, args.dir)
    png = Path(args.plot) if args.plot else Path(args.dir) / "samples.png"
    print(f"wrote {dataset.plot(takes, png)}")


def _epochs(args, default=None) -> int:
    from . import gesture

    default = gesture.EPOCHS if default is None else default
    epochs = default if args.epochs is None else args.epochs
    if not 1 <= epochs <= 10000:
        raise TinymlError(f"--epochs must be 1 to 10000, got {epochs}")
    return epochs


def gesture_augment(args):
    """The Augment that --no-augment and --augment-off KIND,... ask for."""
    from . import gesture

    off = getattr(args, "augment_off", None)
    if getattr(args, "no_augment", False):
        if off:
            raise TinymlError("--no-augment turns every augmentation off; --augment-off names some")
        return gesture.NO_AUGMENT
    if off:
        return gesture.augment_without(k.strip() for k in off.split(",") if k.strip())
    return gesture.Augment()


def describe_augment(a) -> str:
    if not a.copies:
        return "no augmentation"
    return (f"{a.copies} augmented copies of each training take: size x{a.scale[0]:g}-{a.scale[1]:g}, "
            f"tempo x{a.tempo[0]:g}-{a.tempo[1]:g}, turned up to {a.rotate_deg:g} deg, noise up to "
            f"{a.noise[0]:g} g / {a.noise[1]:g} deg/s, bias up to {a.bias[0]:g} g / {a.bias[1]:g} deg/s")


def train_gesture(args):
    """`tinyml train gesture DIR`: called by cli.cmd_train."""
    from . import gesture

    if not args.data:
        raise TinymlError("tinyml train gesture needs the dataset folder: tinyml train gesture DIR")
    _not_for_gesture(args)
    output = Path(args.output or "models/gesture.tflite")
    epochs = _epochs(args)
    augment = gesture_augment(args)
    folds = gesture.FOLDS if args.folds is None else args.folds
    if not 1 <= folds <= 20:
        raise TinymlError(f"--folds must be 1 to 20, got {folds}")
    # the figures before the path, which may fold onto the next line
    say(f"training the gesture model ({epochs} epochs; {describe_augment(augment)}) on {args.data} and "
        "quantizing it with the TFLite converter ...", indent="  ")
    result = gesture.train_gesture(args.data, output, epochs=epochs, augment=augment, folds=folds)
    tmdl_path, report_path, png_path = gesture.report_paths(output)
    r = result.report
    say(f"classes {', '.join(r['classes'])}; held-out takes: float {r['float_accuracy']:.1%}, "
        f"int8 {r['int8_accuracy']:.1%} ({r['test_windows']} windows of {len(r['test_takes'])} takes)", indent="  ")
    cv = r["cross_validation"]
    if cv:
        folds_text = ", ".join(f"{a:.1%}" for a in cv["int8_accuracy"])
        say(f"cross-validation, {cv['how']}: int8 {cv['int8_mean']:.1%} mean, {cv['int8_min']:.1%} to "
            f"{cv['int8_max']:.1%} ({folds_text})", indent="  ")
    for w in r["warnings"]:
        say(f"warning: {w}", indent="  ")
    say(f"wrote {output}, {tmdl_path} ({r['tmdl_bytes']} bytes, {r['params']} parameters), {report_path}, {png_path}",
        indent="  ")


def _not_for_kws(args):
    if getattr(args, "no_augment", False) or getattr(args, "augment_off", None):
        raise TinymlError("--no-augment and --augment-off are options of `tinyml train gesture`; "
                          "kws: --copies 0 turns augmentation off")
    if getattr(args, "folds", None) is not None:
        raise TinymlError("--folds is an option of `tinyml train gesture`")


def _not_for_gesture(args):
    for option, name in (("frontend", "frontend"), ("words", "words"), ("copies", "copies"), ("kws_model", "model"),
                         ("espeak", "espeak"), ("flite", "flite"), ("warp", "warp")):
        if getattr(args, option, None) is not None:
            raise TinymlError(f"--{name} is an option of `tinyml train kws`")
    if getattr(args, "no_compare", False):
        raise TinymlError("--no-compare is an option of `tinyml train kws`")


def train_kws(args):
    """`tinyml train kws DIR`: called by cli.cmd_train."""
    from . import kws

    if not args.data:
        raise TinymlError("tinyml train kws needs the folder of WAV clips: tinyml train kws DIR")
    _not_for_kws(args)
    output = Path(args.output or "models/kws.tflite")
    epochs = _epochs(args, kws.EPOCHS)
    copies = kws.Augment().copies if args.copies is None else args.copies
    if not 0 <= copies <= 50:
        raise TinymlError(f"--copies must be 0 to 50, got {copies}")
    warp = 0.0 if args.warp is None else args.warp
    if not 0 <= warp <= 0.3:
        raise TinymlError(f"--warp must be 0 to 0.3 (a spectrum stretched by 1 +- F), got {warp}")
    voices = {}
    for name, default in (("espeak", kws.SYNTHETIC_ESPEAK), ("flite", kws.SYNTHETIC_FLITE)):
        voices[name] = default if getattr(args, name, None) is None else getattr(args, name)
        if voices[name] < 0:
            raise TinymlError(f"--{name} must be 0 or more, got {voices[name]}")
    report = kws.train_kws(args.data, output, frontend=args.frontend or "micro", words=_words(args.words),
                           model=args.kws_model or "auto", compare=not args.no_compare, epochs=epochs,
                           augment_with=kws.Augment(copies=copies, warp=warp), **voices)
    for r in report["candidates"]:
        print(f"{r['model']:9} on {r['frontend']}: held-out clips float {r['float_accuracy']:.1%}, "
              f"int8 {r['int8_accuracy']:.1%}, {r['tmdl_bytes']} bytes")
    for name, r in report["frontends"].items():
        if name != report["frontend"]["frontend"]:
            print(f"{r['model']:9} on {name}: held-out clips float {r['float_accuracy']:.1%}, "
                  f"int8 {r['int8_accuracy']:.1%} (front end comparison)")
    syn = report["synthetic"]
    if syn["clips"]:
        say(f"trained with {syn['clips']} clips of synthetic voices beside the recordings ({syn['espeak_voices']} "
            f"espeak-ng, {syn['flite_voices']} flite; --espeak 0 --flite 0 for none)", indent="  ")
    per = ", ".join(f"{c} {'-' if a is None else f'{a:.0%}'}" for c, a in report["per_class"].items())
    say(f"exported {report['model']['kind']} on {report['frontend']['frontend']}: int8 "
        f"{report['int8_accuracy']:.1%} ({per})", indent="  ")
    files = report["files"]
    say(f"wrote {files['tflite']}, {files['tmdl']} ({report['tmdl_bytes']} bytes), {files['classes']}, "
        f"{files['frontend']}, {files['report']}, {files['confusion']}", indent="  ")


def cmd_evaluate(args):
    import json

    from . import evaluate

    if args.port:
        from .board import connect

        quiet = args.json  # stdout is the JSON object alone
        with connect(args.port, args.board) as board:
            result = evaluate.evaluate(args.model, args.data, board, args.backend,
                                       progress=(lambda s: None) if quiet else print)
        where = f"board {args.port}" + (f", {args.backend}" if args.backend else "")
    else:
        result = evaluate.evaluate(args.model, args.data, backend=args.backend)
        where = "host reference"
    if args.json:
        print(json.dumps(result))
        return
    evaluate.print_result(result, args.model, args.data, where=where)


def _words(text):
    """--words a,b -> ["a", "b"]; None without it."""
    return [w.strip() for w in text.split(",") if w.strip()] if text else None


def cmd_compress(args):
    from . import audio_data, compress

    if audio_data.is_audio_folder(args.dir):   # WAV clips: a keyword model
        from . import kws, kws_compress

        _not_for_kws(args)
        rows = kws_compress.compress(args.dir, Path(args.output), kind=args.model or "dnn",
                                     epochs=_epochs(args, kws.EPOCHS), words=_words(args.words))
        kws_compress.print_table(rows)
    else:
        if args.model or args.words:
            raise TinymlError("--model and --words are for keyword datasets (a folder of WAV clips); "
                              f"{args.dir} holds IMU takes")
        rows = compress.compress(args.dir, Path(args.output), epochs=_epochs(args), augment=gesture_augment(args))
        compress.print_table(rows)
    print(f"wrote {Path(args.output) / 'compress.json'}")


def add_commands(sub):
    s = sub.add_parser("record", help="record labelled takes of a sensor (the IMU by default) from a board "
                                      "into a dataset folder")
    s.add_argument("--label", required=True, help="what the takes show, e.g. wave (names a folder)")
    s.add_argument("--seconds", type=float, default=2.0, help="length of each take (default 2)")
    s.add_argument("--takes", type=int, default=1, help="takes in a row, a countdown before each (default 1)")
    s.add_argument("--port", help="serial port of the board, or 'sim' for the virtual board "
                                  "(default: the first USB serial port)")
    s.add_argument("--board", default="nano33_ble_sense", help="board id to simulate with --port sim")
    s.add_argument("--ble", metavar="NAME", help="record over BLE from the board's record app (name or "
                                                 "address; 'sim': the virtual board's simulated link)")
    s.add_argument("--data", default="data", help="dataset folder (default data/)")
    s.add_argument("--gesture", help="--port sim: the gesture the virtual board acts out (default: the label's)")
    s.add_argument("--sensor", default="imu", help="imu (default: 50 Hz), environment (temperature, humidity, "
                                                   "pressure), magnetometer, each at its data rate, or mic "
                                                   "(one-second 16 kHz WAV clips)")
    s.add_argument("--count", type=int, help="--sensor mic: clips in a row, a prompt before each (default 1; "
                                             "the same as --takes)")
    s.add_argument("--mic", metavar="FILE_OR_DIR",
                   help="--port sim: what the virtual board's microphone hears, a WAV file or a folder of "
                        "them; at each prompt it plays the next file, after the last the first again")
    s.add_argument("--seed", type=int, help="--port sim: first take's variation (default: from the clock)")
    s.add_argument("--countdown", type=int, default=3, help="seconds of countdown before each take (default 3)")
    s.add_argument("--no-live", action="store_true", help="no live plot (also when output is not a terminal)")
    s.set_defaults(func=cmd_record)

    s = sub.add_parser("data", help="summarise a dataset folder (IMU takes or WAV clips) and plot samples "
                                    "(a spectrogram for audio) per label to a PNG")
    s.add_argument("dir", help="the dataset folder")
    s.add_argument("--plot", help="PNG to write (default DIR/samples.png, DIR/spectrograms.png for audio)")
    s.set_defaults(func=cmd_data)

    s = sub.add_parser("evaluate", help="score a .tflite or .tmdl model on a dataset folder of its kind (audio "
                                        "or IMU) through its int8 arithmetic")
    s.add_argument("model", help="the .tflite or .tmdl (its .classes, and for kws its .frontend.json, beside it)")
    s.add_argument("data", help="the dataset folder")
    s.add_argument("--json", action="store_true",
                   help="print one JSON object: accuracy (0..1), per_class ({label: accuracy}), confusion, ..., "
                        "and for audio files ([{path, label, predicted, scores}])")
    s.add_argument("--port", help="run a keyword model's whole path (front end and model) on this board "
                                  "(sim: the virtual board) instead of the host's reference")
    s.add_argument("--board", default="nano33_ble_sense", help="the virtual board's identity with --port sim")
    s.add_argument("--backend", choices=["native", "viper", "python"],
                   help="the board's implementation of the front end and the model (--port)")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("compress", help="prune, distil and quantize the gesture or keyword model; one table "
                                        "of sizes, accuracy and estimated latency")
    s.add_argument("dir", help="the dataset folder: IMU takes (gesture) or WAV clips (keywords)")
    s.add_argument("-o", "--output", default="out/compress", help="folder for compress.json and the models")
    s.add_argument("--epochs", type=int, help="training epochs of the baseline, teacher and student (default 40, "
                                              "for keywords too; the pruned network's fine-tuning takes at most "
                                              "20)")
    s.add_argument("--model", choices=["dnn", "cnn"], help="keywords: the network to compress (default dnn)")
    s.add_argument("--words", help="keywords: comma-separated labels to recognise, as for `tinyml train kws`")
    s.add_argument("--no-augment", action="store_true", help="train on the takes as recorded (as `train gesture`)")
    s.add_argument("--augment-off", metavar="KINDS", help="turn these augmentations off, comma-separated: "
                                                          "scale, tempo, rotate, noise, bias")
    s.set_defaults(func=cmd_compress)
