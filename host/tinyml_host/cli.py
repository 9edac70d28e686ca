"""`tinyml` command line: one table of subcommands, one place that turns errors into messages."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .errors import DEBUG_ENV, TinymlError, debug_requested


def _show_tool_logs(args):
    if getattr(args, "verbose", False):  # read by train.py where the TFLite converter runs
        os.environ["TINYML_VERBOSE"] = "1"


def cmd_train(args):
    from . import train

    _show_tool_logs(args)
    if args.model == "gesture":
        from .cli_loop import train_gesture

        return train_gesture(args)
    if args.model == "kws":
        from .cli_loop import train_kws

        return train_kws(args)
    if args.data:
        raise TinymlError(f"tinyml train {args.model} makes its own data; a dataset folder is for `train gesture` "
                          "and `train kws`")
    if args.epochs is not None:
        raise TinymlError(f"--epochs is for `train gesture` and `train kws`; tinyml train {args.model} has its own")
    if args.no_augment or args.augment_off or args.folds is not None:
        raise TinymlError("--no-augment, --augment-off and --folds are options of `tinyml train gesture`")
    print(f"training the {args.model} model and quantizing it with the TFLite converter ...")
    path = train.write_model(args.model, args.output or f"models/{args.model}.tflite")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


def cmd_export(args):
    from . import export, tmdl

    model = export.export(args.model, args.output, rounding=args.rounding, vectors=args.vectors,
                          frontend=_frontend_record(args.frontend), labels=_labels(args.labels))
    from . import term

    size = Path(args.output).stat().st_size
    term.say(f"wrote {args.output}: {_describe(model)}, {size} bytes, arena {model.arena_bytes} bytes, "
             f"rounding {model.rounding}, {len(model.vectors_in)} golden vectors (format version {tmdl.VERSION})",
             indent="  ")


FRONTENDS = {"micro": "TensorFlow's micro frontend with micro_speech's settings and int8 conversion "
                      "(speech_commands --preprocess=micro, TFLM's micro_speech)"}


def _frontend_record(name):
    """The .tmdl front end record for --frontend NAME (docs/features.md, "In the model file")."""
    if name is None:
        return None
    from . import features

    return features.frontend_record(features.MICRO_SPEECH, features.micro_speech_int8)


def _labels(text):
    """--labels: a comma-separated list, or a file with one label per line."""
    if text is None:
        return None
    path = Path(text)
    names = path.read_text().splitlines() if path.is_file() else text.split(",")
    names = [n.strip() for n in names if n.strip()]
    if not names:
        raise TinymlError(f"--labels {text!r} names no labels")
    return names


def _describe(model) -> str:
    """A dense chain as its widths (1->16->16->1), any other graph as its operator counts."""
    from collections import Counter

    from . import tmdl

    kinds = [op.kind for op in model.ops]
    if set(kinds[:-1]) == {tmdl.OP_FULLY_CONNECTED} and kinds[-1] in (tmdl.OP_FULLY_CONNECTED, tmdl.OP_SOFTMAX):
        widths = "->".join([str(model.input_size)] + [str(l.shape[0]) for l in model.layers])
        return widths + (" softmax" if model.softmax else "")
    counts = Counter(op.name for op in model.ops)
    shape = "x".join(map(str, model.tensors[0].shape))
    return f"{shape} -> {model.output_size}, " + ", ".join(f"{name} x{n}" for name, n in counts.items())


def cmd_sim(args):
    from . import sim

    return sim.run_sim(args.flash, args.board, args.romfs_size, args.heap, mic=args.mic)


def cmd_demo(args):
    _show_tool_logs(args)
    if args.which == "mlperf":
        from . import mlperf_demo

        return mlperf_demo.main(out_dir=args.out, models_dir=Path(args.models) if args.models != "models" else None)
    if args.which == "ad01":
        from . import ad01_demo

        return ad01_demo.main(out_dir=args.out, models_dir=Path(args.models), retrain=args.retrain,
                              windows=args.windows, boards=args.board, stand_in=args.stand_in)
    if args.windows is not None or args.board or args.stand_in:
        raise TinymlError("--windows, --board and --stand-in are options of `tinyml demo ad01`")
    from . import demo

    return demo.main(retrain=args.retrain, out_dir=args.out, models_dir=Path(args.models))


def cmd_boards(args):
    from . import boards

    if args.write:
        from . import deploy

        print(f"wrote {boards.write_device_module()}")
        (deploy.DEVICE / "package.json").write_text(deploy.package_json())
        print(f"wrote {deploy.DEVICE / 'package.json'}")
    for board_id, b in boards.load().items():
        print(f"{board_id:24} {b['name']:36} {b['cpu']:14} natmod {b['natmod_arch']}")


def _models(args) -> list[Path]:
    return [Path(m) for m in args.model] if args.model else [Path("models/sine.tmdl")]


def cmd_deploy(args):
    from . import deploy
    from .board import connect
    from .inputs import read_tmdl

    def check_inputs():  # a damaged model is refused here, not by the board after the copy
        if not Path(args.source).is_dir():
            raise TinymlError(f"{args.source}: not a folder (--source is the folder that becomes the board's "
                              "filesystem)")
        for model in _models(args):
            if model.suffix == ".tmdl":  # beside a model, e.g. its .classes names, copied as they are
                read_tmdl(model)

    if args.drive:  # CircuitPython: over its USB drive
        if args.romfs:
            raise TinymlError("--romfs is for MicroPython boards: CircuitPython has no ROMFS partition")
        drive = deploy.find_circuitpy() if args.drive == "auto" else Path(args.drive)
        target = deploy.DriveTarget(drive)
        check_inputs()
        deploy.deploy(target, Path(args.source), _models(args))
        return
    check_inputs()
    with connect(args.port, args.board, romfs_size=args.romfs_size) as board:
        if args.romfs:  # the package to the filesystem, the models to ROMFS (/rom)
            deploy.deploy(board, Path(args.source), [])
            deploy.deploy_romfs(board, _models(args))
        else:
            deploy.deploy(board, Path(args.source), _models(args))


def cmd_run(args):
    from .board import connect
    from .inputs import read_text

    code = read_text(args.script, "a Python script")
    with connect(args.port, args.board, romfs_size=args.romfs_size, mic=args.mic) as board:
        board.run(code)


def _native_line(info: dict) -> str:
    """Which backend the board's tinyml will pick, and why."""
    from . import prebuilt

    if info["native"]:
        where = "built into the firmware" if info["native_builtin"] else "lib/_tinyml.mpy"
        return f"_tinyml {info['native']} ({where}): backend native"
    if info["implementation"] == "circuitpython":
        return "no native modules on CircuitPython: backend python"
    if prebuilt.for_board(info["mpy"]):
        return (f"no _tinyml yet: backend viper; `tinyml deploy` installs the prebuilt "
                f"{prebuilt.arch_name(info['mpy'] >> 10)} module (backend native)")
    return f"no _tinyml: backend viper ({prebuilt.why_none(info['mpy'])})"


def cmd_info(args):
    from .board import connect

    with connect(args.port, args.board, romfs_size=args.romfs_size) as board:
        board.soft_reset()  # what a program left in the heap (main.py's app) is not the board's
        info = board.info()
        romfs = board.romfs()
        models = board.call("tinyml.info", "models()")
    from . import term

    def line(key, text):
        term.say(text, first=f"{key:<11}", indent=" " * 11)

    line("firmware", f"{info['implementation']} {'.'.join(map(str, info['version']))} ({info['platform']}), "
                     f"mpy {info['mpy'] & 0xFF}.{(info['mpy'] >> 8) & 3}")
    line("board", f"{info['board_id'] or 'not a boards.json board'} ({info['machine']})")
    line("native", _native_line(info))
    line("free RAM", f"{info['free_ram']} bytes (after a soft reset)")
    line("free flash", f"{info['free_flash']} bytes" if info["free_flash"] >= 0 else "unknown")
    if romfs["size"]:
        line("ROMFS", f"{romfs['size']} byte partition, "
                      + ("mounted at /rom" if romfs["mounted"] else "empty or not a valid image (tinyml deploy --romfs)"))
    else:
        line("ROMFS", "none in this firmware" + (" (no vfs.rom_ioctl)" if romfs["size"] is None else ""))
    line("models", ", ".join(models) if models else "none (tinyml deploy copies models/sine.tmdl)")


def cmd_firmware(args):
    from . import firmware, term

    p = firmware.plan(args.board, args.micropython_dir, args.romfs_bytes, args.release)
    if args.dry_run:
        for step in p.steps:
            print(term.shell(step.shell()))
        term.say(term.relative(f"then copy {p.built} to {p.out}; flash it: {p.flash}"), first="# ", indent="#   ")
        return 0
    firmware.run(p, progress=lambda text: term.say(text, indent="    "))
    return 0


def cmd_bench(args):
    from . import bench
    from .board import connect

    with connect(args.port, args.board, romfs_size=args.romfs_size) as board:
        names = [m.name for m in _models(args)]
        rows = bench.run_on_board(board, names, args.invokes)
        duty = [] if args.no_duty else bench.duty_on_board(board, args.sleep)
        where = "virtual board" if args.port == "sim" else board.port
    path = bench.report(rows, Path(args.out), f"inference on the board ({where}), {args.invokes} invokes each")
    print(f"wrote {path}")
    if not args.no_duty:
        duty_path = bench.report_duty(duty, Path(args.out), where)
        if duty_path:
            print(f"wrote {duty_path}")


def cmd_repl(args):
    import subprocess

    from .board import connect

    with connect(args.port, args.board, romfs_size=args.romfs_size) as board:
        model = _models(args)[0].name
        board.soft_reset()
        board.exec(f"import tinyml\nm = tinyml.load({model!r})\nprint(m)")
        board.close()  # the port is opened exclusively: release it for mpremote
        print(f"tinyml and m = tinyml.load({model!r}) are ready: try m.predict(1.57); Ctrl-] leaves")
        return subprocess.call([sys.executable, "-m", "mpremote", "connect", board.port, "resume", "repl"])


def _positive_int(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of bytes above 0")
    return value


def cmd_estimate(args):
    from . import boards, estimate, estimate_view, mlperf, romfs
    from .inputs import read_tmdl

    model = read_tmdl(args.model)
    costs = estimate.load_costs(Path(args.costs))
    image, _ = romfs.build_from([Path(args.model)])
    rows = estimate.estimate(model, Path(args.model).stat().st_size, estimate.package_sizes(), costs,
                             romfs_image_bytes=len(image), tmdl_data=Path(args.model).read_bytes(),
                             block=args.block)
    if args.board:
        rows = [r for r in rows if r["board"] == args.board]
        if not rows:
            raise TinymlError(f"unknown board {args.board!r}; see `tinyml boards`")
    estimate.keyword_app_cpu(model, rows)   # a keyword model (front end record): the app's CPU share
    energy = estimate.energy(rows, args.rate)
    if args.json:
        import json

        # each energy row (board x backend) carries its board's estimate too; the energy keys win
        by_board = {r["board"]: r for r in rows}
        print(json.dumps([{**by_board[e["board"]], **e} for e in energy], indent=1))
        return
    detail = "explain" if args.explain else "board" if args.board else "none"
    estimate_view.print_summary(rows, energy, args.model, args.rate, detail)
    if detail != "none":
        estimate_view.print_details(rows, energy, boards.load(), args.explain)
    streamed = any("streamed" in (r["verdict"]["fits"], r["verdict"]["may_fit"]) for r in rows)
    if streamed or detail != "none":   # what each invoke() reads when the model is streamed
        from .term import say

        say(estimate.stream_line(rows[0]["stream"]))
    estimate_view.print_keyword_app(rows)
    if mlperf.is_ad01_shaped(model):
        mlperf.print_comparison(rows)
    if args.explain:
        estimate_view.print_explanation(bool(costs), estimate.VIPER_BASIS, estimate.PLAN_BYTES)
    elif not costs:
        print("native latency needs kernel measurements: run `make bench` (writes out/bench/kernels.json)")


def cmd_monitor(args):
    from . import monitor

    transport = monitor.open_transport(args.port, args.ble, args.board, reconnect=args.reconnect,
                                       scan_timeout=args.scan_timeout, app=args.app, mic=args.mic)
    classes = args.classes or ("models/gesture.classes" if args.app == "gesture" else None)
    if classes and (args.classes or Path(classes).exists()):
        transport.class_names = monitor.transports.read_class_names(classes)
    session = monitor.watch(transport, args.seconds, args.commands or [],
                            Path(args.csv) if args.csv else None, live=False if args.no_live else None)
    monitor.report(session)
    if args.csv:
        print(f"wrote {args.csv} ({session.frames.frames} rows)")
    if transport.error:
        raise TinymlError(transport.error)


def cmd_web(args):
    from . import web

    return web.run(args.host, args.port, args.dir)


def _vector_count(text: str) -> int:
    n = int(text)
    if not 0 <= n <= 0xFFFF:
        raise argparse.ArgumentTypeError(f"{n} is not 0 to 65535 (a .tmdl's vector count is 16-bit)")
    return n


def _board_args(s):
    s.add_argument("--port", help="serial port of the board, or 'sim' for the virtual board "
                                  "(default: the first USB serial port)")
    s.add_argument("--board", default="nano33_ble_sense", help="board id to simulate with --port sim")
    s.add_argument("--romfs-size", type=int, metavar="BYTES",
                   help="with --port sim: ROMFS partition size of a custom firmware build "
                        "(default: the board's stock partition)")


def _mic_arg(s, sim_only=False):
    s.add_argument("--mic", metavar="FILE_OR_DIR",
                   help=("with --port sim: " if sim_only else "") + "what the virtual board's microphone hears: "
                        "a WAV file or a folder of them played in name order (any rate, made 16 kHz mono), "
                        "from when a microphone starts; then silence")


def _parser() -> argparse.ArgumentParser:
    from . import term

    def formatter(prog):  # argparse wraps to the terminal's width: the CLI's width instead
        return argparse.HelpFormatter(prog, width=term.width() - 2)

    p = argparse.ArgumentParser(prog="tinyml", description="TinyML for MicroPython and CircuitPython boards",
                                formatter_class=formatter)
    p.add_argument("--debug", action="store_true",
                   help=f"show the Python traceback of an error (also: {DEBUG_ENV}=1)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("train", help="train a model and quantize it to an int8 .tflite")
    s.add_argument("model", choices=["sine", "motion", "ad01", "gesture", "kws"],
                   help="sine (LED demo), motion (IMU still/moving), ad01 (an autoencoder of MLPerf Tiny's "
                        "anomaly-detection shape, trained briefly on synthetic machine sound), gesture "
                        "(from your recorded DIR) or kws (keyword spotting from a folder of WAV clips)")
    s.add_argument("data", nargs="?", help="gesture: the dataset folder `tinyml record` wrote; kws: a folder of "
                                           "WAV clips, one folder per label (Speech Commands layout)")
    s.add_argument("-o", "--output", help="default models/MODEL.tflite")
    s.add_argument("--verbose", action="store_true", help="show TensorFlow's own log while it converts")
    s.add_argument("--epochs", type=int, help="gesture, kws: training epochs (default 40 each; fewer trains "
                                              "faster, check the report's accuracy)")
    s.add_argument("--no-augment", action="store_true",
                   help="gesture: train on the takes as recorded, without augmented copies (the report says which)")
    s.add_argument("--augment-off", metavar="KINDS",
                   help="gesture: turn these augmentations off, comma-separated: scale (motion size), tempo, "
                        "rotate (how the board sits in the hand), noise, bias")
    s.add_argument("--folds", type=int,
                   help="gesture: cross-validation folds of whole takes (default 4, fewer when a label has fewer "
                        "takes: then one take of each label is held out per fold); 1: train the one model only")
    s.add_argument("--frontend", choices=["micro", "logmel"],
                   help="kws: the audio front end the model is exported with (default micro: noise reduction and "
                        "PCAN on, as TF's speech_commands; logmel: both off); the report compares both")
    s.add_argument("--words", help="kws: comma-separated labels to recognise; other labels become 'unknown' "
                                   "(default: every label)")
    s.add_argument("--model", dest="kws_model", choices=["auto", "dnn", "tiny_conv", "cnn"],
                   help="kws: the network (default auto: each, and the smallest within 1 point of the most accurate "
                        "is exported; the report lists all)")
    s.add_argument("--no-compare", action="store_true", help="kws: train the chosen front end only")
    s.add_argument("--copies", type=int, help="kws: augmented copies of each training clip (default 3)")
    s.add_argument("--warp", type=float, metavar="F",
                   help="kws: vocal tract length perturbation of the copies, 1 +- F (default 0: off; on voices the "
                        "model never heard 0.1 gained 3.3 points at one seed, 0.3 at another: docs/kws.md)")
    s.add_argument("--espeak", type=int, metavar="N",
                   help="kws: espeak-ng voices saying each keyword, added to training only (default 60; 0 for none)")
    s.add_argument("--flite", type=int, metavar="N",
                   help="kws: flite voices likewise, where flite is installed (default 80, all it has; 0 for none)")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("export", help="convert an int8 .tflite to a .tmdl for the board")
    s.add_argument("model", help="the .tflite file")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--rounding", choices=["tflm", "litert"], default="tflm",
                   help="requantization rounding to be bit-exact with: TFLite Micro (default) or LiteRT")
    s.add_argument("--vectors", type=_vector_count, default=16,
                   help="golden test vectors to embed, 0 to 65535 (default 16)")
    s.add_argument("--frontend", choices=sorted(FRONTENDS),
                   help="the audio front end the model was trained on, recorded in the .tmdl so the board "
                        "computes the same features: micro = " + FRONTENDS["micro"])
    s.add_argument("--labels", help="the output classes in output order: a,b,c or a file with one per line")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("sim", help="start the virtual board on a pseudo-terminal for mpremote")
    s.add_argument("--flash", default="out/sim/flash", help="directory holding the board's filesystem")
    s.add_argument("--board", default="nano33_ble_sense", help="board id from boards.json to simulate")
    s.add_argument("--romfs-size", type=int, metavar="BYTES",
                   help="ROMFS partition size, to simulate a custom firmware build (default: the board's "
                        "stock partition from boards.json; 0 for none)")
    s.add_argument("--heap", metavar="BYTES|board",
                   help="MicroPython heap of the virtual board: bytes, or 'board' for the simulated board's "
                        "stock heap (boards.json); default the unix port's own (2 MB)")
    _mic_arg(s)
    s.set_defaults(func=cmd_sim)

    s = sub.add_parser("demo", help="sine: train, export, deploy to the virtual board, run and plot; "
                                    "ad01: MLPerf Tiny's anomaly-detection model on each board's heap and flash")
    s.add_argument("which", nargs="?", choices=["sine", "ad01", "mlperf"], default="sine",
                   help="sine (default): the hello world; ad01: a real-size model (../shared/models/ad01_int8.tflite, "
                        "else a same-shape model from `tinyml train ad01`) per board: RAM, ROMFS, streamed, latency, "
                        "anomaly score vs TFLite; mlperf: MLPerf Tiny's five models per board (fits, RAM, latency, "
                        "energy; estimates)")
    s.add_argument("--retrain", action="store_true", help="train again even if models/sine.tflite "
                                                          "(models/ad01.tflite) exists")
    s.add_argument("--windows", type=int, help="ad01: score only the first N windows of the recording (default all)")
    s.add_argument("--board", action="append", help="ad01: only this boards.json id (repeatable; default all)")
    s.add_argument("--stand-in", action="store_true",
                   help="ad01: run the same-shape stand-in (what a clone without ../shared/models runs) even "
                        "where MLPerf Tiny's AD01 is there")
    s.add_argument("--out", default="out", help="where the plot and results go")
    s.add_argument("--models", default="models", help="where sine.tflite and sine.tmdl live")
    s.add_argument("--verbose", action="store_true", help="show TensorFlow's own log while it converts")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("deploy", help="copy device/ and the model to a board (only what changed, atomically)")
    _board_args(s)
    s.add_argument("--model", action="append", help="model file(s) to copy (default models/sine.tmdl)")
    s.add_argument("--drive", help="CircuitPython: the mounted CIRCUITPY drive, or 'auto' to find it")
    s.add_argument("--romfs", action="store_true",
                   help="models into the board's ROMFS partition (/rom, used in place from flash), "
                        "verified by reading back; the package still goes to the filesystem")
    s.add_argument("--source", default=str(Path(__file__).resolve().parents[2] / "device"),
                   help="folder that becomes the board's filesystem (default device/)")
    s.set_defaults(func=cmd_deploy)

    s = sub.add_parser("run", help="run a script on the board (after a soft reset), showing its output")
    s.add_argument("script")
    _board_args(s)
    _mic_arg(s, sim_only=True)
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("info", help="board, firmware, native module, free RAM and flash, models")
    _board_args(s)
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("features", help="the int8 features the board computes for a 16 kHz WAV (host or --port)")
    s.add_argument("wav", help="a WAV file (mono int16; other rates are resampled to 16 kHz)")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--frontend", choices=sorted(FRONTENDS), help="a named front end (default micro)")
    g.add_argument("--model", help="a .tmdl whose recorded front end to use")
    s.add_argument("--port", help="compute on this board (sim: the virtual board) instead of the host's reference")
    s.add_argument("--board", default="nano33_ble_sense", help="the virtual board's identity with --port sim")
    s.add_argument("--backend", choices=["native", "viper", "python"], help="the board's implementation (--port)")
    s.add_argument("--json", action="store_true", help='print {"frames": [[int8, ...], ...]}, one row per hop')
    s.add_argument("-o", "--out", help="the spectrogram PNG (default out/features/WAV.png)")
    s.set_defaults(func=lambda args: __import__("tinyml_host.features_cmd", fromlist=["run"]).run(args))

    s = sub.add_parser("firmware", help="build MicroPython firmware with _tinyml built in for a board (out/firmware/)")
    s.add_argument("board", help="a boards.json id: nano33_ble_sense, pico, pico_w, pico2_w (esp32: prints the ESP-IDF line)")
    s.add_argument("--micropython-dir", type=Path, default=os.environ.get("MICROPYTHON_DIR") or None,
                   help="an existing MicroPython tree (default: clone the release into out/firmware/; or MICROPYTHON_DIR)")
    s.add_argument("--release", default="v1.28.0", help="the MicroPython release to clone (default v1.28.0)")
    s.add_argument("--romfs-bytes", type=int, help="rp2 only: reserve a ROMFS partition of this size (a multiple of 4096)")
    s.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    s.set_defaults(func=cmd_firmware)

    s = sub.add_parser("bench", help="latency, RAM and allocations per inference on the board")
    _board_args(s)
    s.add_argument("--model", action="append", help="model file name(s) on the board (default sine.tmdl)")
    s.add_argument("--invokes", type=int, default=300)
    s.add_argument("--out", default="out/bench")
    s.add_argument("--sleep", choices=["auto", "light", "idle"], default="auto",
                   help="the apps' wait between inferences for the duty cycle (default auto: keep USB/BLE)")
    s.add_argument("--no-duty", action="store_true", help="skip running the apps for their duty cycle")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("repl", help="the board's REPL with tinyml and the model loaded as m")
    _board_args(s)
    s.add_argument("--model", action="append", help="model file to load as m (default sine.tmdl)")
    s.set_defaults(func=cmd_repl)

    s = sub.add_parser("estimate", help="flash, RAM and latency of a model on each board, before deploying")
    s.add_argument("model", help="the .tmdl file")
    s.add_argument("--board", help="only this boards.json id, with every figure behind its row")
    s.add_argument("--costs", default="out/bench/kernels.json", help="kernel measurements from `make bench`")
    s.add_argument("--rate", type=float, default=1.0, metavar="HZ",
                   help="inferences per second for the average power (default 1); asleep in between")
    s.add_argument("--explain", action="store_true",
                   help="every board's figures, the reasons where one is missing, and how each is found")
    s.add_argument("--block", type=_positive_int, metavar="BYTES",
                   help="streamed figures for load(path, stream=BYTES) (default: stream=True's block)")
    s.add_argument("--json", action="store_true",
                   help="print every figure as JSON: a row per board and backend (board, backend, latency_us, "
                        "energy_uj, avg_mw, rate_hz, ..., stream: file reads and bytes per invoke when streamed, "
                        "and the board's verdict, ram_bytes, flash_bytes, ...)")
    s.set_defaults(func=cmd_estimate)

    s = sub.add_parser("monitor", help="watch live telemetry: --ble NAME, --port PATH (USB serial) or --port sim")
    _board_args(s)
    _mic_arg(s, sim_only=True)
    s.add_argument("--ble", metavar="NAME_OR_ADDRESS", help="connect over BLE (bleak) to the board's NUS")
    s.add_argument("--reconnect", action="store_true", help="BLE: connect again after a disconnect")
    s.add_argument("--scan-timeout", type=float, default=10, help="BLE: seconds to look for the board")
    s.add_argument("--seconds", type=float, default=10, help="how long to watch (0: until Ctrl-C)")
    s.add_argument("--csv", help="write the frames to this CSV file")
    s.add_argument("--command", action="append", dest="commands",
                   help="send this RX command once frames come (e.g. 'rate 10'; repeatable)")
    s.add_argument("--no-live", action="store_true", help="no live view, only the final report "
                                                          "(also when output is not a terminal)")
    s.add_argument("--app", default="sine", choices=["sine", "gesture", "kws"],
                   help="the app to start over --port (default sine); gesture and kws (models/kws.tmdl, "
                        "with --mic on the virtual board) send seq,class,score")
    s.add_argument("--classes", help="class names for the gesture app: a .classes file or a training "
                                     "report .json (default models/gesture.classes)")
    s.set_defaults(func=cmd_monitor)

    s = sub.add_parser("web", help="serve the telemetry web page (Web Bluetooth) on localhost")
    s.add_argument("--port", type=int, default=8000, help="default 8000; 0 picks a free port")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: Web Bluetooth needs localhost or https)")
    s.add_argument("--dir", help="serve this copy of the page instead of host/web")
    s.set_defaults(func=cmd_web)

    from .cli_loop import add_commands  # record, data, compress: the own-data loop

    add_commands(sub)

    s = sub.add_parser("boards", help="list supported boards (boards.json)")
    s.add_argument("--write", action="store_true",
                   help="regenerate device/lib/tinyml/boards.py and device/package.json")
    s.set_defaults(func=cmd_boards)
    for s in sub.choices.values():  # also after the command: `tinyml export x.tflite -o y --debug`
        s.formatter_class = formatter
        s.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return p


def describe(error: BaseException) -> str:
    """The user-facing text of an error: a TinymlError's message, or an OSError's
    reason and file without Python's "[Errno 2]" decoration."""
    if isinstance(error, OSError) and error.strerror:
        return f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    return str(error)


def main(argv=None) -> int:
    """The one place that turns errors into messages: a user's problem (TinymlError, or an
    OSError: file missing, unreadable, port gone) is one line and exit status 1. Anything
    else is a bug in tinyml: one line saying so, exit status 1, and the traceback with
    --debug or TINYML_DEBUG=1."""
    args = _parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130
    except (TinymlError, OSError) as e:
        if debug_requested(args.debug):
            if getattr(e, "detail", None):
                print(e.detail, file=sys.stderr)
            raise
        print(f"tinyml {args.command}: error: {describe(e)}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - the last line of defence: a bug, reported as one
        if debug_requested(args.debug):
            raise
        print(f"tinyml {args.command}: internal error (a bug in tinyml, not in your input): "
              f"{type(e).__name__}: {e}\n  run again with --debug (or {DEBUG_ENV}=1) for the traceback, "
              "and please report it", file=sys.stderr)
        return 1

if __name__ == "__main__":
    sys.exit(main())
