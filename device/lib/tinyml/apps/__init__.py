# The apps main.py can run, by name (config.APP).
# Over telemetry, `app NAME` switches apps without a reset: the running app returns a
# Switch, and run() starts the next app on the same BLE link.
from tinyml import clock, hal

APPS = ("sine", "motion", "gesture", "record", "kws")


class Switch:
    """What an app returns when told `app NAME`: run NAME next, keep the link."""

    def __init__(self, app, link):
        self.app = app
        self.link = link


def switchable(name):
    """Check that app `name` can start (it exists, its model is on the board) before an app
    agrees to `app NAME`; ValueError, sent back as an ERR line, otherwise."""
    import os

    if name not in APPS:
        raise ValueError("unknown app %r" % name)
    module = __import__("tinyml.apps." + name, None, None, ("MODEL",))
    if module.MODEL is None:   # the record app needs none
        return name
    try:
        os.stat(model_path(module.MODEL))
    except OSError:
        raise ValueError("no %s on the board: deploy it to run the %s app" % (module.MODEL, name))
    return name


def model_path(name):
    """/rom/NAME when the board's ROMFS holds the model (its weights are used in place from
    flash: `tinyml deploy --romfs`), else NAME on the filesystem."""
    import os

    try:
        os.stat("/rom/" + name)
        return "/rom/" + name
    except OSError:
        return name


def link(telemetry, name):
    """The app's telemetry link: telemetry=True starts one advertised as `name` on the board's
    BLE, a link name ("serial": the REPL's serial line) starts that one, a link passed in
    (after a switch) is kept, False/None means no telemetry."""
    if telemetry is True or isinstance(telemetry, str):
        from tinyml import telemetry as telemetry_module

        return telemetry_module.start(name, link=None if telemetry is True else telemetry)
    return telemetry or None


def push_sample(ring, head, sample, window):
    """Write one IMU sample (a value per channel) into slot `head` of `ring`, which holds the last
    `window` samples; return the next slot, the oldest sample's. Allocates nothing."""
    n = len(sample)
    for c in range(n):
        ring[head * n + c] = sample[c]
    return (head + 1) % window


def pace(next_at, period_ms, wait):
    """Sleep until period_ms after next_at (a clock.ticks_ms time) in the wait `wait`
    (hal.wait_kind()), and return that time: the apps run at their rate however long an
    inference takes. Already past it: no sleep, and the next period counts from now."""
    next_at = clock.ticks_add(next_at, period_ms)
    left = clock.ticks_diff(next_at, clock.ticks_ms())
    if left > 0:
        hal.sleep_between(left, wait)
        return next_at
    hal.count_overrun()
    return clock.ticks_ms()


def run(name, **options):
    while True:
        if name not in APPS:
            raise ValueError("unknown app %r in config.py; choose one of %s" % (name, ", ".join(APPS)))
        module = __import__("tinyml.apps." + name, None, None, ("run",))
        result = module.run(**options)
        if not isinstance(result, Switch):
            return result
        name = result.app
        options = {k: v for k, v in options.items() if k in ("verbose", "sleep")}
        options["telemetry"] = result.link
