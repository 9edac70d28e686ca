# Gestures a person performs with a board in hand, as an IMU would feel them: the virtual
# board's IMU fakes (tinyml_sim.devices.IMUFake) play them, and the host tests check the physics in
# CPython. Pure Python, no imports beyond math, so the same file runs in MicroPython and CPython
# and gives the same numbers in both (its own random generator, seeded per take).
#
# The picture: the board's orientation is R(t) = R0 * Rot(u, theta(t)), body to world, where R0
# is how this take holds the board (a random tilt and heading) and Rot(u, theta) a rotation
# about an axis u fixed in the board; its position p(t) moves in the world. World z points up.
#   accelerometer (g) = R(t)^T (p''(t) / 9.80665 + (0, 0, 1))   specific force: 1 g up at rest
#   gyroscope (deg/s) = u * theta'(t)                            body rate of that rotation
# plus sensor noise and a per-take bias. Speed (frequency), amplitude, phase and R0 vary per
# take, drawn from the seed.
import math

GESTURES = ("still", "wave", "circle", "shake")
G = 9.80665
_DEG = math.pi / 180

# name: (rotation axis u in the board, rotation amplitude deg, rotation frequency multiple,
#        translation amplitude m along world axes (x, z) as (ax, az, phase_z), base frequency Hz)
# wave: the wrist turns the board about its long (y) axis while the hand sways sideways;
# circle: the hand draws a circle in the vertical plane in front of the body, the board turns a
# little with it; shake: fast short strokes sideways; still: a hand's tremor.
_SHAPES = {
    "still": ((1.0, 0.0, 0.0), 0.05, 1.0, (0.0, 0.0, 0.0), 9.0),
    "wave": ((0.0, 1.0, 0.0), 30.0, 1.0, (0.05, 0.0, 0.0), 1.5),
    "circle": ((0.0, 0.0, 1.0), 10.0, 1.0, (0.12, 0.12, 0.5 * math.pi), 1.0),
    "shake": ((0.0, 0.0, 1.0), 5.0, 1.0, (0.015, 0.0, 0.0), 5.0),
}
ACCEL_NOISE_G = 0.01
GYRO_NOISE_DPS = 0.3
ACCEL_BIAS_G = 0.02
GYRO_BIAS_DPS = 1.0
SPEED_RANGE = (0.75, 1.3)
AMPLITUDE_RANGE = (0.7, 1.3)
TILT_MAX_DEG = 30.0
HEADING_MAX_DEG = 45.0


class Random:
    """Park-Miller minimal standard generator: the same sequence in MicroPython and CPython."""

    def __init__(self, seed):
        self.state = (int(seed) % 2147483646) + 1

    def random(self):
        self.state = self.state * 48271 % 2147483647
        return self.state / 2147483647

    def uniform(self, lo, hi):
        return lo + (hi - lo) * self.random()

    def gauss(self):
        u = self.random()
        return math.sqrt(-2 * math.log(u)) * math.cos(2 * math.pi * self.random())


def mix(n):
    """An integer hash of a seed (31 bits in, 31 out). The generator's first draws are close to
    linear in its seed, so takes seeded 0, 1, 2 (a session's takes, `--seed N` counting up)
    would step speed and size through their ranges in even strides, and sessions 1000 apart
    would repeat each other; hashed, nearby seeds give unrelated takes."""
    n &= 0x7FFFFFFF
    for _ in range(2):
        n = ((n >> 16) ^ n) * 0x45D9F3B & 0x7FFFFFFF
    return (n >> 16) ^ n


def rotate(u, angle, v):
    """v rotated by `angle` (radians) about the unit axis u (Rodrigues)."""
    c, s = math.cos(angle), math.sin(angle)
    d = (u[0] * v[0] + u[1] * v[1] + u[2] * v[2]) * (1 - c)
    return (v[0] * c + (u[1] * v[2] - u[2] * v[1]) * s + u[0] * d,
            v[1] * c + (u[2] * v[0] - u[0] * v[2]) * s + u[1] * d,
            v[2] * c + (u[0] * v[1] - u[1] * v[0]) * s + u[2] * d)


def matmul_t(m, v):
    """m^T v for a 3x3 matrix given as rows."""
    return (m[0][0] * v[0] + m[1][0] * v[1] + m[2][0] * v[2],
            m[0][1] * v[0] + m[1][1] * v[1] + m[2][1] * v[2],
            m[0][2] * v[0] + m[1][2] * v[1] + m[2][2] * v[2])


def matmul(m, v):
    return (m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2],
            m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
            m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2])


def _holding(rng):
    """R0 (rows, body to world): the board tilted up to TILT_MAX_DEG about a random horizontal
    axis, turned up to HEADING_MAX_DEG about the vertical."""
    heading = rng.uniform(-HEADING_MAX_DEG, HEADING_MAX_DEG) * _DEG
    direction = rng.uniform(0, 2 * math.pi)
    tilt = rng.uniform(0, TILT_MAX_DEG) * _DEG
    axis = (math.cos(direction), math.sin(direction), 0.0)
    cols = []
    for e in ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)):
        cols.append(rotate((0.0, 0.0, 1.0), heading, rotate(axis, tilt, e)))
    return tuple(tuple(cols[j][i] for j in range(3)) for i in range(3))


class Gesture:
    """One take of gesture `name`, its variation drawn from `seed`. t in seconds from its start.
    speed_range, amplitude_range: where this take's speed and size are drawn from (default
    SPEED_RANGE, AMPLITUDE_RANGE); the same seed draws the same fractions of either range, so
    a wider range moves the extremes outwards and leaves grip, phase and noise as they were."""

    def __init__(self, name, seed=0, speed_range=None, amplitude_range=None):
        if name not in _SHAPES:
            raise ValueError("unknown gesture %r; known: %s" % (name, ", ".join(GESTURES)))
        self.name = name
        rng = Random(mix(seed * 7919 + GESTURES.index(name)))
        axis, angle_deg, rot_multiple, (px, pz, phase_z), freq = _SHAPES[name]
        self.speed = rng.uniform(*(speed_range or SPEED_RANGE))
        self.amplitude = rng.uniform(*(amplitude_range or AMPLITUDE_RANGE))
        self.omega = 2 * math.pi * freq * self.speed         # rad/s of the stroke
        self.rot_omega = self.omega * rot_multiple
        self.axis = axis
        self.angle = angle_deg * _DEG * self.amplitude        # rad
        self.reach = (px * self.amplitude, pz * self.amplitude)
        self.phase_z = phase_z
        self.phase = rng.uniform(0, 2 * math.pi)
        self.holding = _holding(rng)
        self.accel_bias = tuple(rng.uniform(-ACCEL_BIAS_G, ACCEL_BIAS_G) for _ in range(3))
        self.gyro_bias = tuple(rng.uniform(-GYRO_BIAS_DPS, GYRO_BIAS_DPS) for _ in range(3))
        self.rng = rng

    def theta(self, t):
        return self.angle * math.sin(self.rot_omega * t + self.phase)

    def theta_rate(self, t):
        return self.angle * self.rot_omega * math.cos(self.rot_omega * t + self.phase)

    def position(self, t):
        """World position (m) relative to the start of the stroke."""
        a = self.omega * t + self.phase
        return (self.reach[0] * math.sin(a), 0.0, self.reach[1] * math.sin(a + self.phase_z))

    def linear_acceleration(self, t):
        """p''(t) in m/s^2 (world frame)."""
        a = self.omega * t + self.phase
        w2 = self.omega * self.omega
        return (-self.reach[0] * w2 * math.sin(a), 0.0, -self.reach[1] * w2 * math.sin(a + self.phase_z))

    def orientation(self, t):
        """R(t) as rows: body vector -> world vector."""
        cols = [matmul(self.holding, rotate(self.axis, self.theta(t), e))
                for e in ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))]
        return tuple(tuple(cols[j][i] for j in range(3)) for i in range(3))

    def ideal(self, t):
        """(ax, ay, az) in g and (gx, gy, gz) in deg/s at time t, without noise or bias."""
        acc = self.linear_acceleration(t)
        specific = (acc[0] / G, acc[1] / G, acc[2] / G + 1.0)
        # R^T = Rot(u, -theta) R0^T: the specific force in the board's frame
        body = rotate(self.axis, -self.theta(t), matmul_t(self.holding, specific))
        rate = self.theta_rate(t) / _DEG
        u = self.axis
        return (body[0], body[1], body[2], u[0] * rate, u[1] * rate, u[2] * rate)

    def sample(self, t):
        """What the sensor reports: ideal() plus bias and white noise."""
        v = self.ideal(t)
        rng, ab, gb = self.rng, self.accel_bias, self.gyro_bias
        return (v[0] + ab[0] + ACCEL_NOISE_G * rng.gauss(),
                v[1] + ab[1] + ACCEL_NOISE_G * rng.gauss(),
                v[2] + ab[2] + ACCEL_NOISE_G * rng.gauss(),
                v[3] + gb[0] + GYRO_NOISE_DPS * rng.gauss(),
                v[4] + gb[1] + GYRO_NOISE_DPS * rng.gauss(),
                v[5] + gb[2] + GYRO_NOISE_DPS * rng.gauss())
