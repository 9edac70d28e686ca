"""A fake of CircuitPython's `_bleio`, the native module under the adafruit_ble library, with
the surface adafruit_ble's BLERadio, UARTService and advertising use (names, signatures and
constants as in circuitpython-stubs' _bleio/__init__.pyi). It rejects what CircuitPython rejects
(types, lengths, advertising twice), and raises RuntimeError where CircuitPython would block or
do something a test must not miss. Test-side controls (not in CircuitPython) are the module
functions after `# central`. Put it in sys.modules["_bleio"] before importing adafruit_ble."""

from __future__ import annotations

import builtins

_MTU_PAYLOAD = 20
_ADV_MAX = 31


class BluetoothError(Exception):
    pass


class RoleError(BluetoothError):
    pass


class SecurityError(BluetoothError):
    pass


ConnectionError = builtins.ConnectionError

log: list = []          # ("advertise", data, scan_response, connectable) ("notify", uuid, bytes) ...
notify_error: Exception | None = None   # raised by the next notifications (e.g. BluetoothError)


def _buffer(value, what="buffer"):
    try:
        return bytes(memoryview(value))
    except TypeError:
        raise TypeError("object with buffer protocol required") from None


class UUID:
    def __init__(self, value):
        if isinstance(value, int):
            if not 0 <= value <= 0xFFFF:
                raise ValueError("UUID integer value must be 0-0xffff")
            self._16, self._128 = value, None
        elif isinstance(value, str):
            digits = value.replace("-", "")
            if len(value) != 36 or len(digits) != 32:
                raise ValueError("UUID string not 'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx'")
            try:
                raw = bytes.fromhex(digits)
            except ValueError:
                raise ValueError("UUID string not 'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx'") from None
            self._128 = raw[::-1]
            self._16 = self._128[12] | self._128[13] << 8
        else:
            raw = _buffer(value)
            if len(raw) != 16:
                raise ValueError("UUID value is not str, int or byte buffer")
            self._128 = raw
            self._16 = raw[12] | raw[13] << 8

    @property
    def uuid16(self) -> int:
        return self._16

    @property
    def uuid128(self) -> bytes:
        if self._128 is None:
            raise AttributeError("not a 128-bit UUID")
        return self._128

    @property
    def size(self) -> int:
        return 16 if self._128 is None else 128

    def pack_into(self, buffer, offset=0):
        raw = self._128 if self._128 is not None else bytes((self._16 & 0xFF, self._16 >> 8))
        if len(buffer) - offset < len(raw):
            raise IndexError("Buffer too small")
        buffer[offset:offset + len(raw)] = raw

    def __eq__(self, other):
        return isinstance(other, UUID) and (self._16, self._128) == (other._16, other._128)

    def __hash__(self):
        return hash((self._16, self._128))

    def __repr__(self):
        if self._128 is None:
            return "UUID(0x%04x)" % self._16
        return "UUID('%s')" % self._128[::-1].hex()


class Attribute:
    NO_ACCESS = 0x00
    OPEN = 0x11
    ENCRYPT_NO_MITM = 0x21
    ENCRYPT_WITH_MITM = 0x31
    LESC_ENCRYPT_WITH_MITM = 0x41
    SIGNED_NO_MITM = 0x12
    SIGNED_WITH_MITM = 0x22


class Address:
    PUBLIC = 0x0
    RANDOM_STATIC = 0x1
    RANDOM_PRIVATE_RESOLVABLE = 0x2
    RANDOM_PRIVATE_NON_RESOLVABLE = 0x3

    def __init__(self, address, address_type):
        raw = _buffer(address)
        if len(raw) != 6:
            raise ValueError("Address must be 6 bytes long")
        if address_type not in (0, 1, 2, 3):
            raise ValueError("Address type out of range")
        self.address_bytes, self.type = raw, address_type

    def __eq__(self, other):
        return isinstance(other, Address) and (self.address_bytes, self.type) == (other.address_bytes, other.type)

    def __hash__(self):
        return hash((self.address_bytes, self.type))


class Service:
    def __init__(self, uuid, *, secondary=False):
        if not isinstance(uuid, UUID):
            raise TypeError("Expected a UUID")
        self.uuid = uuid
        self.secondary = secondary
        self.remote = False
        self._characteristics: list = []
        _adapter_services.append(self)

    @property
    def characteristics(self):
        return tuple(self._characteristics)

    def deinit(self):
        pass


_adapter_services: list = []


class Characteristic:
    BROADCAST = 0x01
    READ = 0x02
    WRITE_NO_RESPONSE = 0x04
    WRITE = 0x08
    NOTIFY = 0x10
    INDICATE = 0x20

    def __init__(self):
        raise TypeError("cannot create '_bleio.Characteristic' instances; use add_to_service()")

    @classmethod
    def add_to_service(cls, service, uuid, *, properties=0, read_perm=Attribute.OPEN, write_perm=Attribute.OPEN,
                       max_length=20, fixed_length=False, initial_value=None, user_description=None):
        if not isinstance(service, Service):
            raise TypeError("Expected a Service")
        if not isinstance(uuid, UUID):
            raise TypeError("Expected a UUID")
        if not 0 <= properties <= 0x3F:
            raise ValueError("Invalid properties")
        if not 0 <= max_length <= 512:
            raise ValueError("max_length must be 0-512")
        value = b"" if initial_value is None else _buffer(initial_value)
        if len(value) > max_length or (fixed_length and len(value) != max_length):
            raise ValueError("initial_value length is wrong")
        c = object.__new__(cls)
        c.service, c.uuid, c.properties = service, uuid, properties
        c.read_perm, c.write_perm, c.max_length, c.fixed_length = read_perm, write_perm, max_length, fixed_length
        c._value = value
        c._buffers = []
        service._characteristics.append(c)
        return c

    @property
    def value(self):
        return self._value

    @value.setter
    def value(self, value):
        data = _buffer(value)
        if len(data) > self.max_length or (self.fixed_length and len(data) != self.max_length):
            raise ValueError("Value length > max_length")
        self._value = data
        # CircuitPython notifies only connections whose CCCD enables it, silently skipping the
        # rest (ports/nordic/common-hal/_bleio/Characteristic.c:155-202, set_value)
        for conn in adapter._connections:
            if conn.connected and self in conn._subscribed and self.properties & Characteristic.NOTIFY:
                if len(data) > _MTU_PAYLOAD:
                    raise BluetoothError("Unknown soft device error: 000c")   # hvx longer than MTU - 3
                if notify_error is not None:
                    raise notify_error
                log.append(("notify", str(self.uuid), data))

    @property
    def descriptors(self):
        return ()

    def set_cccd(self, *, notify=False, indicate=False):
        raise RoleError("client-side only")

    def deinit(self):
        pass


class CharacteristicBuffer:
    def __init__(self, characteristic, *, timeout=1.0, buffer_size=64):
        if not isinstance(characteristic, Characteristic):
            raise TypeError("Expected a Characteristic")
        if buffer_size < 1:
            raise ValueError("buffer_size must be >= 1")
        self._characteristic = characteristic
        self.timeout = timeout
        self._size = buffer_size
        self._data = bytearray()
        characteristic._buffers.append(self)

    def _received(self, data):
        room = self._size - len(self._data)
        self._data += data[:max(0, room)]     # a full ring buffer drops what does not fit

    @property
    def in_waiting(self):
        return len(self._data)

    def _take(self, nbytes):
        if nbytes is None or nbytes > len(self._data):
            raise RuntimeError("fake: CharacteristicBuffer would wait up to %ss for more data here" % self.timeout)
        out = bytes(self._data[:nbytes])
        del self._data[:nbytes]
        return out

    def read(self, nbytes=None):
        return self._take(nbytes)

    def readinto(self, buf, nbytes=None):
        n = len(buf) if nbytes is None else nbytes
        data = self._take(n)
        buf[:n] = data
        return n

    def readline(self):
        if b"\n" not in self._data:
            raise RuntimeError("fake: readline() would wait for a newline until the timeout")
        return self._take(self._data.index(b"\n") + 1)

    def reset_input_buffer(self):
        self._data = bytearray()

    def deinit(self):
        self._characteristic._buffers.remove(self)


class PacketBuffer:
    """Server side only (a local characteristic), as CircuitPython cd3da4a's
    ports/nordic/common-hal/_bleio/PacketBuffer.c has it: it follows the CCCD writes it sees after
    it is made (:131-185, packet_buffer_on_ble_server_evt: a write enabling notifications takes
    that connection, one without lets it go, and so does its disconnect), and
    outgoing_packet_length raises ValueError while it has no connection (:423-451, and
    shared-bindings/_bleio/PacketBuffer.c, "No connection: length cannot be determined")."""

    def __init__(self, characteristic, *, buffer_size, max_packet_size=None):
        if not isinstance(characteristic, Characteristic):
            raise TypeError("characteristic must be of type Characteristic")
        if buffer_size < 1:
            raise ValueError("buffer_size must be >= 1")
        if characteristic.service.remote:
            raise RuntimeError("fake: client-side PacketBuffer is not modelled")
        self._characteristic = characteristic
        self._max_packet_size = characteristic.max_length if max_packet_size is None else max_packet_size
        self._connection = None
        self._made_at = len(log)    # test-side: what had happened before it was made
        _packet_buffers.append(self)

    def _cccd_written(self, connection, value):
        if self._characteristic.properties & Characteristic.NOTIFY:
            self._connection = connection if value & 1 else None

    @property
    def outgoing_packet_length(self):
        if self._connection is None:
            raise ValueError("No connection: length cannot be determined")
        return min(self._connection.max_packet_length, self._max_packet_size, self._characteristic.max_length)

    @property
    def incoming_packet_length(self):
        raise RuntimeError("fake: PacketBuffer reads are not modelled")

    def readinto(self, buf):
        raise RuntimeError("fake: PacketBuffer reads are not modelled")

    def write(self, data, *, header=None):
        raise RuntimeError("fake: PacketBuffer writes are not modelled")

    def deinit(self):
        _packet_buffers.remove(self)


_packet_buffers: list = []


class Descriptor:
    @classmethod
    def add_to_characteristic(cls, *args, **kwargs):
        raise RuntimeError("fake: Descriptor is not modelled")


class Connection:
    def __init__(self):
        self.connected = True
        self.paired = False
        self.connection_interval = 15.0
        self.max_packet_length = _MTU_PAYLOAD
        self._subscribed: set = set()

    def disconnect(self):
        disconnect()

    def pair(self, *, bond=True):
        raise RuntimeError("fake: pairing is not modelled")

    def discover_remote_services(self, service_uuids_whitelist=None):
        raise RoleError("fake: we are the peripheral")


class ScanEntry:
    def __init__(self):
        raise TypeError("cannot create '_bleio.ScanEntry' instances")


class ScanResults:
    pass


class Adapter:
    def __init__(self, *, uart=None, rts=None, cts=None):
        self.enabled = True
        self._name = "CIRCUITPY1234"
        self.address = Address(b"\x11\x22\x33\x44\x55\x66", Address.PUBLIC)
        self._advertising = False
        self._connections: list = []

    @property
    def name(self):
        return self._name

    @name.setter
    def name(self, value):
        if not isinstance(value, str):
            raise TypeError("name must be a str")
        self._name = value

    @property
    def advertising(self):
        return self._advertising

    @property
    def connected(self):
        return any(c.connected for c in self._connections)

    @property
    def connections(self):
        return tuple(c for c in self._connections if c.connected)

    def start_advertising(self, data, *, scan_response=None, connectable=True, anonymous=False, timeout=0,
                          interval=0.1, tx_power=0, directed_to=None):
        data = _buffer(data)
        scan = b"" if scan_response is None else _buffer(scan_response)
        if len(data) > _ADV_MAX or len(scan) > _ADV_MAX:
            raise ValueError("Data too large for advertisement packet")
        if not 0.02 <= interval <= 10.24:
            raise ValueError("interval must be in range 0.0020-10.2400")
        if self._advertising:
            raise BluetoothError("Already advertising.")
        if connectable and self.connected:
            raise RuntimeError("fake: advertising while connected is not modelled (one central)")
        self._advertising = True
        log.append(("advertise", data, scan, connectable))

    def stop_advertising(self):
        self._advertising = False
        log.append(("advertise_stop",))

    def start_scan(self, prefixes=b"", *, buffer_size=512, extended=False, timeout=None, interval=0.1, window=0.1,
                   minimum_rssi=-80, active=True):
        raise RuntimeError("fake: scanning is not modelled")

    def stop_scan(self):
        pass

    def connect(self, address, *, timeout):
        raise RuntimeError("fake: central role is not modelled")

    def erase_bonding(self):
        pass


adapter = Adapter()


def set_adapter(new_adapter):
    raise NotImplementedError("Not settable")


# central: what a phone does


def _characteristic(uuid):
    for s in _adapter_services:
        for c in s._characteristics:
            if str(c.uuid).lower() == uuid.lower() or c.uuid == UUID(uuid):
                return c
    raise RuntimeError("fake: no characteristic %s" % uuid)


def connect():
    if not adapter._advertising:
        raise RuntimeError("fake: not advertising, a central cannot connect")
    adapter._advertising = False     # CircuitPython stops advertising on a connection
    conn = Connection()
    adapter._connections.append(conn)
    return conn


def subscribe(uuid, on=True):
    """The central writes the characteristic's CCCD: notifications on (off)."""
    if not adapter.connected:
        raise RuntimeError("fake: no central connected")
    c = _characteristic(uuid)
    conn = adapter._connections[-1]
    if on:
        conn._subscribed.add(c)
    else:
        conn._subscribed.discard(c)
    for buffer in _packet_buffers:
        if buffer._characteristic is c:
            buffer._cccd_written(conn, 1 if on else 0)


def write(uuid, data):
    c = _characteristic(uuid)
    if not adapter.connected:
        raise RuntimeError("fake: no central connected")
    if not c.properties & (Characteristic.WRITE | Characteristic.WRITE_NO_RESPONSE):
        raise RuntimeError("fake: the stack refuses writes to %s" % uuid)
    if len(data) > _MTU_PAYLOAD:
        raise RuntimeError("fake: a central writes at most MTU - 3 = 20 bytes at a time")
    c._value = bytes(data)
    for b in c._buffers:
        b._received(bytes(data))


def disconnect():
    for conn in adapter._connections:
        conn.connected = False
        for buffer in _packet_buffers:
            if buffer._connection is conn:
                buffer._connection = None
    adapter._connections.clear()


def reset():
    global adapter, notify_error
    adapter = Adapter()
    notify_error = None
    log.clear()
    _adapter_services.clear()
    _packet_buffers.clear()
