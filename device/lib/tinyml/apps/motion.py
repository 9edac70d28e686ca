# Motion: read the IMU at 50 Hz, every 8 samples run a model on the last 16,
# and set the LED brightness to how sure it is that the board is moving; once a second read
# the environment sensors where the board has them (the Nano 33 BLE Sense).
# The model is trained by `tinyml train motion` on physical units (accel in g, gyro in
# 100 deg/s); each IMU adapter gives raw counts and its own counts per g and per deg/s
# (MPU-6050 16384 and 131, LSM9DS1 16393 and 114.3, BMI270 16384 and 131.1), so the same
# model runs on every IMU.
from array import array

import tinyml
from tinyml import apps, clock, hal, sensors

MODEL = "motion.tmdl"
WINDOW = 16           # samples per inference (host/tinyml_host/train.py MOTION_WINDOW)
RATE_HZ = 50          # MOTION_RATE_HZ
GYRO_UNIT_DPS = 100   # model input: accel in g, gyro in units of 100 deg/s
CHANNELS = 6
ENV_EVERY = RATE_HZ   # samples between environment readings: once a second


def _environment(verbose):
    try:
        return sensors.environment()
    except ValueError as e:
        if verbose:
            print("no environment readings: %s" % e)
        return None


def run(inferences=0, verbose=False, period_ms=1000 // RATE_HZ, model=MODEL, environment=True,
        on_environment=None, telemetry=False, sleep="auto"):
    """Run forever (inferences=0) or for that many inferences; print p(moving) if verbose.

    With telemetry (True, "serial", or a link to keep) every inference streams "seq,p_moving,duty";
    RX commands: led on|off, app NAME (returns apps.Switch to run that app next); the rate is
    the model's (RATE_HZ / (WINDOW / 2) inferences per second), so `rate` gets an error.

    With environment sensors on the board (and environment=True), read them once a second into
    an array('i') of (centi-degrees C, centi-%RH, Pa) - see tinyml.sensors - print it if verbose
    and pass it to on_environment(values) if given (a telemetry hook; the array is reused).

    Between samples the board sleeps until the next one (hal.wait_kind: sleep="auto", "light"
    or "idle"); hal.power_stats() then says how long it was awake and asleep."""
    m = tinyml.load(apps.model_path(model))
    if len(m.input) != WINDOW * CHANNELS or len(m.output) != 2:
        raise ValueError("%s is not a motion model: it takes %d inputs and gives %d outputs"
                         % (model, len(m.input), len(m.output)))
    imu = sensors.imu()
    env = _environment(verbose) if environment else None
    climate = array("i", bytes(4 * 3))
    led = hal.led()
    state = {"led": True, "next": None}
    link = apps.link(telemetry, "tinyml-motion")
    if link:
        def command(name, arg):
            if name == "rate":
                raise ValueError("the motion app streams one frame per inference, %d per second"
                                 % (RATE_HZ // (WINDOW // 2)))
            if name == "led":
                state["led"] = arg == "on"
            elif name == "app" and arg != "motion":
                state["next"] = apps.switchable(arg)

        link.on_command(command)
    scale = (1 / imu.ACCEL_LSB_PER_G,) * 3 + (1 / (imu.GYRO_LSB_PER_DPS * GYRO_UNIT_DPS),) * 3
    ring = array("h", bytes(2 * CHANNELS * WINDOW))   # the last WINDOW samples, oldest at `head`
    sample = array("h", bytes(2 * CHANNELS))
    head = 0
    seen = 0
    done = 0
    if verbose:
        print("motion app on %s, backend %s" % (hal.board_name(), m.backend))
    wait = hal.wait_kind(bool(link), sleep)
    hal.reset_power_stats()
    next_at = clock.ticks_ms()
    while not inferences or done < inferences:
        imu.read_into(sample)
        head = apps.push_sample(ring, head, sample, WINDOW)
        seen += 1
        if env is not None and seen % ENV_EVERY == 1:
            env.read_into(climate)
            if verbose:
                print("env t=%.2fC rh=%.2f%% p=%.2fhPa" % (climate[0] / 100, climate[1] / 100, climate[2] / 100))
            if on_environment is not None:
                on_environment(climate)
        if seen >= WINDOW and seen % (WINDOW // 2) == 0:
            k = 0
            for t in range(WINDOW):
                base = ((head + t) % WINDOW) * CHANNELS
                for c in range(CHANNELS):
                    m.input[k] = m.quantize(ring[base + c] * scale[c])
                    k += 1
            m.invoke()
            moving = m.output_values()[1]
            duty = int(moving * 65535) if state["led"] else 0
            led.duty_u16(duty)
            if verbose:
                print("p_moving=%.3f" % moving)
            if link:
                link.send((moving, duty))
            done += 1
        if link:
            link.poll()
            if state["next"]:
                return apps.Switch(state["next"], link)
        if period_ms:
            next_at = apps.pace(next_at, period_ms, wait)
