"""`tinyml` command line: one table of subcommands, one place that turns errors into messages."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import TinymlError


def cmd_train(args):
    from . import train

    if args.model != "sine":
        raise TinymlError(f"unknown model {args.model!r}; available: sine")
    print(f"training the sine model ({args.epochs} epochs) and quantizing with the TFLite converter ...")
    path = train.write_sine(args.output, epochs=args.epochs)
    print(f"wrote {path} ({path.stat().st_size} bytes)")


def cmd_export(args):
    from . import export, tmdl

    model = export.export(args.model, args.output, rounding=args.rounding, vectors=args.vectors)
    size = Path(args.output).stat().st_size
    shape = "->".join([str(model.input_size)] + [str(l.shape[0]) for l in model.layers])
    print(f"wrote {args.output}: {shape}, {size} bytes, rounding {model.rounding}, "
          f"{len(model.vectors_in)} golden vectors (format version {tmdl.VERSION})")


def cmd_sim(args):
    from . import sim

    return sim.run_sim(args.flash, args.board)


def cmd_demo(args):
    from . import demo

    return demo.main(retrain=args.retrain, out_dir=args.out, models_dir=Path(args.models))


def cmd_boards(args):
    from . import boards

    if args.write:
        print(f"wrote {boards.write_device_module()}")
    for board_id, b in boards.load().items():
        print(f"{board_id:24} {b['name']:36} {b['cpu']:14} natmod {b['natmod_arch']}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tinyml", description="TinyML for MicroPython and CircuitPython boards")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("train", help="train a model and quantize it to an int8 .tflite")
    s.add_argument("model", help="which model: sine")
    s.add_argument("-o", "--output", default="models/sine.tflite")
    s.add_argument("--epochs", type=int, default=500)
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("export", help="convert an int8 .tflite to a .tmdl for the board")
    s.add_argument("model", help="the .tflite file")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--rounding", choices=["tflm", "litert"], default="tflm",
                   help="requantization rounding to be bit-exact with: TFLite Micro (default) or LiteRT")
    s.add_argument("--vectors", type=int, default=16, help="golden test vectors to embed (default 16)")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("sim", help="start the virtual board on a pseudo-terminal for mpremote")
    s.add_argument("--flash", default="out/sim/flash", help="directory holding the board's filesystem")
    s.add_argument("--board", default="nano33_ble_sense", help="board id from boards.json to simulate")
    s.set_defaults(func=cmd_sim)

    s = sub.add_parser("demo", help="train, export, deploy to the virtual board, run and plot the sine demo")
    s.add_argument("--retrain", action="store_true", help="train again even if models/sine.tflite exists")
    s.add_argument("--out", default="out", help="where the plot and results go")
    s.add_argument("--models", default="models", help="where sine.tflite and sine.tmdl live")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("boards", help="list supported boards (boards.json)")
    s.add_argument("--write", action="store_true", help="regenerate device/lib/tinyml/boards.py")
    s.set_defaults(func=cmd_boards)
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except (TinymlError, ValueError, FileNotFoundError) as e:
        print(f"tinyml {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
