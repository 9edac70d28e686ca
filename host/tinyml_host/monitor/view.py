"""What `tinyml monitor` shows: a live table and terminal plot while it runs (rich Live, plotext),
and the final report. Both read a Session and nothing else."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

PLOT_POINTS = 100   # values per series in the live plot


def _names(session) -> list[str]:
    rows = session.frames.rows
    width = len(rows[-1]) - 1 if rows else 0
    names = list(column_names(session))
    return names if len(names) == width else [f"v{i}" for i in range(1, width + 1)]


def column_names(session) -> tuple[str, ...]:
    """What the frames carry after seq: the gesture app's columns once the board has named its
    classes (over BLE the host cannot know which app runs), else the transport's app's."""
    from .transports import GESTURE_NAMES

    return GESTURE_NAMES if session.frames.class_names else session.transport.names


def class_names(session) -> tuple[str, ...]:
    """The gesture app's class names: the board's own (its CLASSES line, for the model it runs),
    else the host's (`--classes`, models/gesture.classes) until that line arrives."""
    return session.frames.class_names or session.transport.class_names


def _value(session, name: str, v: float) -> str:
    classes = class_names(session)
    if name == "class" and classes and 0 <= v < len(classes) and v == int(v):
        return f"{name} {classes[int(v)]}"
    return f"{name} {v:.5g}"


def _last_values(session) -> str:
    rows = session.frames.rows
    if not rows:
        return "-"
    return f"seq {int(rows[-1][0])}  " + "  ".join(_value(session, n, v) for n, v in zip(_names(session), rows[-1][1:]))


def _elapsed(session) -> str:
    return f"{session.elapsed:.1f} / {session.seconds:g} s" if session.seconds else f"{session.elapsed:.1f} s"


def counters(session) -> Table:
    t = Table(title=f"tinyml monitor · {session.transport.label}", title_justify="left", expand=True)
    for name in ("frames", "lost", "bad", "frames/s", "time"):
        t.add_column(name, justify="right")
    f = session.frames
    t.add_row(str(f.frames), str(f.lost), str(f.bad), f"{session.rate():.1f}", _elapsed(session))
    return t


def plot(session, width: int, height: int) -> Text:
    """The last PLOT_POINTS values of each series, each scaled to its own range (named in the
    legend), so series of different units share one plot."""
    import plotext

    rows = session.frames.rows[-PLOT_POINTS:]
    fig = plotext.figure
    fig.clear()
    fig.theme("dark")
    fig.plot_size(width, height)
    if len(rows) >= 2:
        for i, name in enumerate(_names(session)):
            ys = [r[i + 1] if len(r) > i + 1 else float("nan") for r in rows]
            real = [y for y in ys if y == y]
            lo, hi = (min(real), max(real)) if real else (0.0, 1.0)
            span = (hi - lo) or 1.0
            scaled = [(y - lo) / span for y in ys]
            fig.draw(fig.signal([int(r[0]) for r in rows], scaled).label(f"{name} {lo:.3g}..{hi:.3g}"))
    else:
        fig.title("waiting for frames")
    return Text.from_ansi(fig.build().string())


def live(session, width: int = 80, height: int = 24) -> RenderableType:
    """The whole live screen, sized to fit width x height."""
    lines = [Text("last  ", style="bold") + Text(_last_values(session))]
    notes = [r for r in session.frames.replies[-2:]] + [text for _, text in session.transport.events[-2:]]
    if notes:
        lines.append(Text("board  ", style="bold") + Text(" · ".join(notes)))
    table = counters(session)
    plot_height = max(6, height - 6 - len(lines) - 1)  # the table takes 6 lines with its title
    return Group(table, *lines, plot(session, width, plot_height))


def report(session, console=None):
    """The final table: frames received and lost for every transport, replies, link events."""
    from .. import term

    t = Table(title=f"telemetry, {session.elapsed:.1f} s, {session.transport.label}")
    t.add_column("measure")
    t.add_column("value", justify="right")
    f = session.frames
    t.add_row("frames received", str(f.frames))
    t.add_row("frames lost (gaps in seq)", str(f.lost))
    t.add_row("unparsable frames", str(f.bad))
    t.add_row("frames per second", f"{f.frames / session.elapsed:.1f}" if session.elapsed else "-")
    if f.rows:
        t.add_row("last frame", _last_values(session))
    if class_names(session):
        source = "from the board" if session.frames.class_names else "from the host's file"
        t.add_row(f"classes ({source})", " ".join(class_names(session)))
    for command in session.sent:
        t.add_row("command sent", command)
    for reply in f.replies:
        t.add_row("board replied", reply)
    for at, text in session.transport.events:
        t.add_row(f"at {max(0.0, at - session.started):.1f} s", text)
    duty = getattr(session.transport, "duty", None)
    if duty:
        t.add_row("board asleep (measured)", f"{duty['asleep_ms'] / duty['span_ms']:.1%} of {duty['span_ms']} ms, "
                  f"{duty['wakeups']} waits ({duty['wait']})" if duty["span_ms"] else "-")
        mw = _average_mw(session.transport, duty)
        t.add_row("average power (estimated)", mw)
    if session.interrupted:
        t.add_row("stopped", "Ctrl-C")
    (console or term.console()).print(t)


def _average_mw(transport, duty) -> str:
    """The measured duty cycle priced with the board's boards.json power facts."""
    from ..bench import average_power
    from ..boards import load

    board = getattr(transport, "board_id", None)
    facts = load()
    if board not in facts:
        return "-"
    row = average_power({"board": board, "awake_ms": duty["awake_ms"], "asleep_ms": duty["asleep_ms"],
                         "wait": duty["wait"], "wakeups": duty["wakeups"], "app": "sine"}, facts)
    return f"{row['avg_mw']:.2f} mW" if row["avg_mw"] is not None else f"cannot say: {row['why_not']}"
