"""`tinyml estimate` for people: the answer first, in term.WIDTH columns.

Default: one narrow table, a row per board: where the model fits, the RAM that needs against
the heap, flash, native latency, energy per inference and average power. `--board ID`: that
board's row and every figure behind it; `--explain`: every board's figures and how they are
found (the long form lives in docs/models.md and docs/energy.md, linked); `--json`: cli.py.
"""

from __future__ import annotations

from . import term

FIT_DOC = "docs/models.md#will-it-fit"
ENERGY_DOC = "docs/energy.md#energy-microjoules-per-inference-average-power-apps-that-sleep"
WAYS = {"RAM": "ram_bytes", "ROMFS": "ram_romfs_bytes", "streamed": "ram_streamed_bytes"}


def _kb(n: int) -> str:
    return f"{n / 1024:,.1f} KB"


def _short_kb(n: int) -> str:
    """Kilobytes in as few digits as carry the figure: 1.5, 90, 286."""
    kb = n / 1024
    return f"{kb:.1f}" if kb < 10 else f"{kb:,.0f}"


def _sig3(x: float) -> str:
    """Three significant digits, trailing zeros kept: 0.371, 3.10, 15.1, 151."""
    for bound, places in ((100, 0), (10, 1), (1, 2)):
        if x >= bound:
            return f"{x:,.{places}f}"
    return f"{x:.3g}"


def time_us(us: float | None) -> str:
    if us is None:
        return "-"
    if us < 1000:
        return f"{us:.1f} us"
    if us < 1e6:
        return f"{_sig3(us / 1000)} ms"
    return f"{_sig3(us / 1e6)} s"


def energy_uj(uj: float | None) -> str:
    if uj is None:
        return "-"
    if uj < 1000:
        return f"{_sig3(uj)} uJ"
    return f"{_sig3(uj / 1000)} mJ"


def power_mw(e: dict) -> str:
    if e["avg_mw"] is None:
        return "-"
    floor = ">= " if e["avg_is_lower_bound"] else ""
    return f"{floor}{_sig3(e['avg_mw'])} mW"


def fits_word(v: dict) -> str:
    """RAM, ROMFS, streamed, maybe ROMFS, ..., or no."""
    if v["fits"]:
        return v["fits"]
    return f"maybe {v['may_fit']}" if v["may_fit"] else "no"


def ram_needed(r: dict) -> int:
    """RAM of the way the model fits (or may fit); with none, the way that needs the least."""
    v = r["verdict"]
    way = v["fits"] or v["may_fit"]
    if way:
        return r[WAYS[way]]
    ways = ["ram_bytes", "ram_streamed_bytes"] + (["ram_romfs_bytes"] if v["romfs"] != "no" else [])
    return min(r[k] for k in ways)


def summary_table(rows: list[dict], energy: list[dict], rate_hz: float):
    native = {e["board"]: e for e in energy if e["backend"] == "native"}
    t = term.table()
    for name, justify in (("board", "left"), ("fits", "left"), ("RAM / heap", "right"), ("flash", "right"),
                          ("latency", "right"), ("energy", "right"), (f"power @ {rate_hz:g}/s", "right")):
        t.add_column(name, justify=justify, no_wrap=True)
    for r in rows:
        e = native[r["board"]]
        t.add_row(r["board"], fits_word(r["verdict"]),
                  f"{_short_kb(ram_needed(r))} / {_short_kb(r['heap_bytes'])} KB",
                  f"{_short_kb(r['flash_bytes'])} KB", time_us(r["native_us"]), energy_uj(e["energy_uj"]),
                  power_mw(e))
    return t


def print_summary(rows: list[dict], energy: list[dict], model_path: str, rate_hz: float, shown: str):
    """The answer: a row per board in `rows`. `shown`: what follows (details, explanation or none)."""
    macs = rows[0]["macs"]
    term.say(f"{model_path}: {macs:,} MACs. Estimated for each board's stock MicroPython with tinyml's "
             "native module; not measured on a board.")
    term.show(summary_table(rows, energy, rate_hz))
    term.say("fits: where the model loads (RAM; ROMFS, weights in flash; streamed, one layer at a time); "
             "RAM / heap: what that way needs of the stock free heap; flash: model + tinyml; latency, "
             "energy, power: native kernel, asleep between inferences; -: no figure.")
    if shown == "none":
        term.say("More: --board ID (one board's figures and why), --explain (every board's), --json (all "
                 f"fields); how each figure is found: {FIT_DOC}")


def verdict_line(r: dict) -> str:
    where = {"RAM": "in RAM", "ROMFS": "in the stock ROMFS partition",
             "streamed": "only streamed (load(path, stream=True))"}
    v = r["verdict"]
    if v["fits"]:
        fits = "fits " + where[v["fits"]]
    elif v["may_fit"]:
        fits = f"may fit {where[v['may_fit']]}, if the heap grows that far (not measured)"
    else:
        fits = "does not fit"
    return f"{r['board']}: {fits}."


def brief(text: str, explain: bool) -> str:
    """A reason or basis as it is (explain), or cut to its first clause: boards.json's sources run
    to several lines, and --explain shows them whole."""
    if explain or len(text) <= 160:
        return text
    cuts = [i for i in (text.find(" ("), text.find(": "), text.find("; ")) if i > 15]
    return text[:min(cuts)] + " (--explain: why)" if cuts else text


def board_details(r: dict, energy: list[dict], facts: dict, explain: bool = False) -> None:
    """Print every figure behind one board's row, and the reasons where one is missing (whole
    with `explain`, else cut to their first clause)."""
    from rich.padding import Padding


    v = r["verdict"]
    word = {"yes": "fits", "maybe": "may fit (over the initial heap, which grows)", "no": "does not fit"}

    def fact(key, text):
        term.say(text, first=f"  {key:<12}", indent=" " * 14)

    term.say(verdict_line(r))
    fact("board", f"{facts['name']}, {r['cpu']} @ {r['cpu_mhz']} MHz, {facts['flash_kb']} KB flash, "
                  f"{facts['ram_kb']} KB RAM")
    fact("heap", f"{_kb(r['heap_bytes'])} ({r['heap_kind']}{', grows on demand' if r['heap_grows'] else ''})")
    fact("filesystem", f"RAM {_kb(r['ram_bytes'])} ({r['ram_bytes']:,} B): {word[v['ram']]}")
    if r["romfs_partition_bytes"]:
        where = f"image {_kb(r['romfs_image_bytes'])} in the stock {_kb(r['romfs_partition_bytes'])} partition"
        if r["romfs_image_bytes"] > r["romfs_partition_bytes"]:
            romfs = f"{where}: does not fit (a larger partition needs a custom build)"
        else:
            romfs = f"{where}, RAM {_kb(r['ram_romfs_bytes'])} ({r['ram_romfs_bytes']:,} B): {word[v['romfs']]}"
    else:
        romfs = (f"no partition in stock firmware (a custom build can add one); with one, RAM "
                 f"{_kb(r['ram_romfs_bytes'])} ({r['ram_romfs_bytes']:,} B)")
    fact("ROMFS", romfs)
    fact("streamed", f"RAM {_kb(r['ram_streamed_bytes'])} ({r['ram_streamed_bytes']:,} B): {word[v['streamed']]}")
    fact("flash", f"{r['flash_bytes']:,} B (model + tinyml package) of {facts['flash_kb']} KB")
    fact("work", f"{r['macs']:,} MACs")
    native = f"{r['native_us']:.1f} us" if r["native_us"] is not None else "no figure"
    fact("native", f"{native}, weights in RAM ({brief(r['native_basis'], explain)})")
    flash = f"{r['native_flash_us']:.1f} us: " if r["native_flash_us"] is not None else "not priced: "
    fact("in flash", f"{flash}{brief(r['flash_note'], explain)}")
    viper = f"{r['viper_us']:,.0f} us: " if r["viper_us"] is not None else "no figure: "
    fact("viper", f"{viper}{brief(r['viper_basis'], explain)}")

    mine = [e for e in energy if e["board"] == r["board"]]
    e0 = mine[0]
    floor = ">= " if e0["avg_is_lower_bound"] else ""
    busy = f"{e0['active_ma']:g} mA @ {e0['supply_v']:g} V ({e0['active_kind']})" if e0["active_ma"] else "unknown"
    wait = (f"{e0['wait_state']} {floor}{e0['wait_ma']:g} mA ({e0['wait_kind']})" if e0["wait_ma"]
            else f"{e0['wait_state']}: no documented current")
    fact("power", f"busy {busy}; between inferences {wait}")

    term.say(f"  energy per backend at --rate {e0['rate_hz']:g} (inferences per second):")
    t = term.table()
    for c in ("backend", "latency", "with weights in flash", "energy / inference", "average power", "< 1 mW"):
        t.add_column(c, justify="left" if c == "backend" else "right")
    for e in mine:
        if e["latency_us"] is None and e["backend"] != "native":
            continue  # python everywhere, viper on Xtensa: no per-board latency; the lines above say why
        under = {True: "yes", False: "no",
                 None: "?" if e["avg_is_lower_bound"] and e["avg_mw"] is not None else "-"}[e["under_1mw"]]
        in_flash = f"{e['latency_flash_us']:.1f} us" if e.get("latency_flash_us") is not None else "-"
        t.add_row(e["backend"], f"{e['latency_us']:.1f} us" if e["latency_us"] is not None else "-", in_flash,
                  f"{e['energy_uj']:.3f} uJ" if e["energy_uj"] is not None else "-",
                  f"{floor}{e['avg_mw']:.3f} mW" if e["avg_mw"] is not None else "-", under)
    term.show(Padding(t, (0, 0, 0, 2)))  # under the facts above
    reasons: dict[str, list[str]] = {}  # the same reason for several backends: said once
    for e in mine:
        if e["why_not"] and e["latency_us"] is not None:
            reasons.setdefault(e["why_not"], []).append(e["backend"])
    for why, backends in reasons.items():
        term.say(f"{r['board']} {', '.join(backends)}: cannot compute: {brief(why, explain)}", indent="  ",
                 first="  ")
    if any(e["avg_is_lower_bound"] and e["avg_mw"] is not None for e in mine):
        term.say(">= : the wait's documented current is a floor (the port keeps more running than the "
                 "datasheet's state), so the average is at least this; under 1 mW cannot be claimed from it.",
                 indent="  ", first="  ")


def print_details(rows: list[dict], energy: list[dict], board_facts: dict, explain: bool = False):
    for r in rows:
        print()
        board_details(r, energy, board_facts[r["board"]], explain)


def print_explanation(costs_found: bool, viper_basis: str, plan_bytes: int):
    """How the figures are found, short; the long form is in the docs, linked."""
    term.say()
    term.say("How these figures are found (the long form: " + FIT_DOC + ", " + ENERGY_DOC + "):")
    for text in (
            "RAM: from the filesystem every array is copied; from ROMFS (/rom) the weights, bias, multipliers "
            "and shifts stay in flash and RAM holds input + output + 2 x widest + 4 x widest + 4 + 8 x outputs + "
            f"{plan_bytes} B per layer + object headers; streamed adds the largest layer's weights and every "
            "layer's bias, multipliers and shifts. Byte counts exact, 32 B per object header estimated.",
            "ROMFS image: the model alone, as `tinyml deploy --romfs` writes it, against the stock partition. "
            "Heap: boards.json (documented: from MicroPython's sources; estimated: not measured).",
            "Native latency: each layer's MACs x make bench's cycles per MAC on the board's core, over the clock; "
            "weights in flash add the flash cache's misses (boards.json flash_read).",
            f"Viper latency: {viper_basis} (the interpreter's real cycles are more: a floor for that part); "
            "invoke() only, predict()'s float conversion not included.",
            "Energy: latency x busy current x supply voltage; average power adds the wait between inferences "
            "(a timed machine.lightsleep where the port has one, else time.sleep_ms). Assumed: nothing else "
            "powered, waking free, no BLE link. The python backend is benchmarked on no board: no figure."):
        term.say(text, indent="  ", first="- ")
    if not costs_found:
        term.say("native latency needs kernel measurements: run `make bench` (writes out/bench/kernels.json)")


def print_keyword_app(rows: list[dict]) -> None:
    """The keyword app's CPU share per board, for a model with a front end record (rows that
    estimate.keyword_app_cpu filled); nothing for other models."""
    rows = [r for r in rows if r.get("kws_app")]
    if not rows:
        return
    first = rows[0]["kws_app"]
    term.say(f"Keyword app, native backend: the front end every {first['hop_ms']} ms hop, the model every "
             f"{first['every_hops']} hops, as a share of the CPU:")
    t = term.table()
    for name in ("board", "MHz", "front end / hop", "front end", "model", "CPU"):
        t.add_column(name, justify="left" if name == "board" else "right", no_wrap=True)
    pct = lambda v: "-" if v is None else f"{v:.1%}"  # noqa: E731
    for r in rows:
        k = r["kws_app"]
        cycles = k["frontend_cycles_per_hop"]
        t.add_row(r["board"], f"{r['cpu_mhz']:g}", "-" if cycles is None else f"{cycles:,} cycles",
                  pct(k["frontend_share"]), pct(k["model_share"]), pct(k["share"]))
    term.show(t)
    term.say("The app's Python around them (recognizer, audio hand-off) is not counted; -: no cycle figure "
             "(the Xtensa front end); viper and python: not estimated (docs/kws.md).")
