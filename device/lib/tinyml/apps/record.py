# Record: stream the IMU over the telemetry link for `tinyml record --ble NAME`, 50 samples a
# second, each one binary frame (tinyml.record.FrameRecorder) while a central listens; every
# second the header line (board, part, counts per g and per deg/s, rate) so that a central
# that connects late learns the units. RX: led on|off, app NAME.

from tinyml import apps, clock, hal, record, sensors

MODEL = None          # needs no model
HEADER_EVERY = record.RATE_HZ


def run(samples=0, telemetry=True, period_ms=1000 // record.RATE_HZ, verbose=False, sleep="auto"):
    """Stream forever (samples=0) or that many samples; returns apps.Switch on `app NAME`."""
    imu = sensors.imu()
    link = apps.link(telemetry, "tinyml-record")
    if not link:
        raise ValueError("the record app streams over telemetry: run it with telemetry=True")
    state = {"next": None}

    def command(name, arg):
        if name == "rate":
            raise ValueError("the record app streams %d samples per second" % record.RATE_HZ)
        if name == "app" and arg != "record":
            state["next"] = apps.switchable(arg)

    link.on_command(command)
    frames = record.FrameRecorder(imu, link.link)
    header = record.Recorder(imu).header_line(hal.board_id(), type(imu).__name__, 0)
    chunks = [header[i:i + 20] for i in range(0, len(header), 20)]
    if verbose:
        print("record app on %s: %s" % (hal.board_name(), header.decode().strip()))
    wait = hal.wait_kind(True, sleep)   # the link is the point of this app: keep it
    hal.reset_power_stats()
    due = clock.ticks_ms()
    n = 0
    while not samples or n < samples:
        if n % HEADER_EVERY == 0 and link.connected:
            for chunk in chunks:
                link.link.notify(chunk)
        if link.connected:
            frames.one()
        n += 1
        link.poll()
        if state["next"]:
            return apps.Switch(state["next"], link)
        if period_ms:
            due = apps.pace(due, period_ms, wait)
