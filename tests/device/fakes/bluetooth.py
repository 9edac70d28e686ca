# A fake of MicroPython's `bluetooth` module (extmod/modbluetooth.c), peripheral role, for
# running tinyml's backend in the unix port, with either binding: `stack = "nimble"` (ESP32,
# the unix port; the default) or `stack = "btstack"` (Pico W, Pico 2 W), set before BLE() is
# first made. Same names, signatures, constants, IRQ event tuples and errors; it rejects what
# the real one rejects, and raises RuntimeError where the real one would do something a test
# must not miss. Test-side controls (not in the real module) are the module functions after
# `# central`. Where the two bindings differ (micropython 1c3c201, 2026-08; its mynewt-nimble 4284956):
# - the CCCD of a notify characteristic is the handle after its value on both. NimBLE keeps it
#   to itself, per connection: no gatts_db entry (extmod/nimble/modbluetooth_nimble.c:378,
#   gatts_register_cb, "This is event is not called for the CCCD") and BLE_GAP_EVENT_SUBSCRIBE
#   is only logged (:510-513, central_gap_event_cb); gatts_read of a handle without an entry
#   returns b"" (extmod/modbluetooth.c:733-739 ignores the EINVAL). btstack makes a gatts_db entry for it, 2 bytes of 0
#   (extmod/btstack/modbluetooth_btstack.c:1022-1026), stores the central's writes there without
#   an IRQ (:950-954, att_write_callback, "Suppress the Python callback for writes to the
#   CCCD") and never clears it: one value for all connections, kept across a disconnect
#   (:1091, "TODO: These should be per-connection").
# - neither checks the CCCD in gatts_notify (NimBLE nimble/host/src/ble_gattc.c:4152
#   ble_gattc_notify_custom, btstack src/ble/att_server.c att_server_notify): the notification goes out and a central that has not subscribed
#   discards it. `log` has what went out, `received` what the central kept.
import errno

FLAG_READ = 0x0002
FLAG_WRITE_NO_RESPONSE = 0x0004
FLAG_WRITE = 0x0008
FLAG_NOTIFY = 0x0010
FLAG_INDICATE = 0x0020

_IRQ_CENTRAL_CONNECT = 1
_IRQ_CENTRAL_DISCONNECT = 2
_IRQ_GATTS_WRITE = 3
_ADV_MAX = 31
_MTU_PAYLOAD = 20
_DEFAULT_ATTR_LEN = 20      # MP_BLUETOOTH_DEFAULT_ATTR_LEN
_BUFFERS = (bytes, bytearray, memoryview)
_HEX = "0123456789abcdefABCDEF"

log = []            # ("advertise", interval_us, adv_data, resp_data) ("notify", conn, handle, bytes) ...
record = True       # False: count notifications only, so gc.mem_alloc() sees the caller alone
notified = 0
notify_error = None  # an errno to fail the next gatts_notify calls with (ENOMEM: no mbufs)
notify_budget = None  # a number: that many more notifications go out, then ENOMEM
stack = "nimble"    # or "btstack": which binding BLE() behaves as
received = []       # ("notify", conn, handle, bytes) the central kept: it had subscribed


class UUID:
    def __init__(self, value):
        if isinstance(value, int):
            if value > 65535:
                raise ValueError("invalid UUID")
            self._data = bytes((value & 0xFF, value >> 8))
        elif isinstance(value, _BUFFERS) and len(value) in (2, 4, 16):
            self._data = bytes(value)
        elif isinstance(value, str):
            digits = [c for c in value if c != "-"]
            for c in digits:
                if c not in _HEX:
                    raise ValueError("invalid char in UUID")
            if len(digits) > 32:
                raise ValueError("UUID too long")
            if len(digits) < 32:
                raise ValueError("UUID too short")
            text = "".join(digits)
            self._data = bytes(reversed(bytes(int(text[i:i + 2], 16) for i in range(0, 32, 2))))
        else:
            raise TypeError("object with buffer protocol required")

    def __eq__(self, other):
        return isinstance(other, UUID) and self._data == other._data

    def __hash__(self):
        return hash(self._data)

    def __bytes__(self):
        return self._data


class _Entry:
    def __init__(self):
        self.data = bytearray(_DEFAULT_ATTR_LEN)
        self.len = 0
        self.append = False


class BLE:
    _instance = None

    def __new__(cls, *args):
        # the real BLE() returns the one singleton
        if BLE._instance is None:
            BLE._instance = object.__new__(cls)
            BLE._instance._init()
        return BLE._instance

    def __init__(self, *args):
        pass

    def _init(self):
        self._active = False
        self._irq = None
        self._gap_name = b"MPY NIMBLE"
        self._db = {}           # value handle -> _Entry
        self._flags = {}        # value handle -> flags
        self._uuids = {}        # value handle -> UUID
        self._advertising = False
        self._conns = set()
        self._next_handle = 1
        self._stack = stack
        self._subscriptions = {}   # NimBLE: (conn handle, value handle) -> CCCD value

    def _check_active(self):
        if not self._active:
            raise OSError(errno.ENODEV)

    def active(self, change=None):
        if change is not None:
            self._active = bool(change)
            if not self._active:
                self._advertising = False
                self._conns.clear()
        return self._active

    def config(self, *args, **kwargs):
        if args and kwargs:
            raise TypeError("can't specify pos and kw args")
        if args:
            if len(args) != 1:
                raise TypeError("must query one param")
            if args[0] == "gap_name":
                return self._gap_name
            if args[0] == "mtu":
                return 23
            raise ValueError("unknown config param")
        for key, value in kwargs.items():
            if key == "gap_name":
                self._check_active()
                self._gap_name = value.encode() if isinstance(value, str) else bytes(value)
            elif key not in ("mtu", "rxbuf", "addr_mode", "bond", "mitm", "io", "le_secure"):
                raise ValueError("unknown config param")
        return None

    def irq(self, handler):
        if handler is not None and not callable(handler):
            raise ValueError("invalid handler")
        self._irq = handler

    def gap_advertise(self, interval_us=500000, adv_data=None, *, resp_data=None, connectable=True):
        self._check_active()
        if interval_us is None:
            self._advertising = False
            log.append(("advertise_stop",))
            return
        for data in (adv_data, resp_data):
            if data is not None and not isinstance(data, _BUFFERS):
                raise TypeError("object with buffer protocol required")
            if data is not None and len(data) > _ADV_MAX:
                raise OSError(errno.EINVAL)     # NimBLE: BLE_HS_EINVAL for a too long payload
        if self._conns:
            raise RuntimeError("fake: advertising while connected is not modelled (one central)")
        self._advertising = bool(connectable)
        log.append(("advertise", interval_us, bytes(adv_data or b""), bytes(resp_data or b"")))

    def gatts_register_services(self, services):
        self._check_active()
        if self._advertising:
            raise RuntimeError("fake: the docs require advertising stopped before registering services")
        self._db.clear()
        self._flags.clear()
        self._uuids.clear()
        result = []
        for service in services:
            uuid, characteristics = service   # ValueError unless a 2-sequence, as mp_obj_get_array_fixed_n
            if not isinstance(uuid, UUID):
                raise ValueError("invalid service UUID")
            self._next_handle += 1
            handles = []
            for c in characteristics:
                if not 2 <= len(c) <= 3:
                    raise ValueError("invalid characteristic tuple")
                if not isinstance(c[0], UUID):
                    raise ValueError("invalid characteristic UUID")
                self._next_handle += 1          # the declaration
                value = self._next_handle
                self._next_handle += 1
                self._db[value] = _Entry()
                self._flags[value] = c[1]
                self._uuids[value] = c[0]
                handles.append(value)
                if c[1] & (FLAG_NOTIFY | FLAG_INDICATE):
                    if self._stack == "btstack":
                        cccd = _Entry()         # btstack: an entry of 2 zero bytes
                        cccd.data = bytearray(2)
                        cccd.len = 2
                        self._db[self._next_handle] = cccd
                    self._next_handle += 1      # the CCCD the stack adds after the value
                if len(c) == 3:
                    for d in c[2]:
                        if not isinstance(d[0], UUID):
                            raise ValueError("invalid descriptor UUID")
                        handles.append(self._next_handle)
                        self._db[self._next_handle] = _Entry()
                        self._next_handle += 1
            result.append(tuple(handles))
        log.append(("register", tuple(result)))
        return tuple(result)

    def _entry(self, handle):
        if handle not in self._db:
            raise OSError(errno.EINVAL)
        return self._db[handle]

    def gatts_read(self, value_handle):
        self._check_active()
        if value_handle not in self._db:
            # modbluetooth.c's gatts_read ignores the binding's EINVAL and returns len 0
            return b""
        e = self._db[value_handle]
        data = bytes(e.data) if e.len == len(e.data) else bytes(e.data[:e.len])
        if e.append:
            e.len = 0
        return data

    def gatts_write(self, value_handle, data, send_update=False):
        self._check_active()
        e = self._entry(value_handle)
        if len(data) > len(e.data):
            e.data = bytearray(len(data))
        e.data[:len(data)] = data
        e.len = len(data)
        return len(data)

    def gatts_notify(self, conn_handle, value_handle, data=None):
        global notified, notify_budget
        self._check_active()
        if not isinstance(conn_handle, int) or not isinstance(value_handle, int):
            raise TypeError("can't convert to int")
        if data is not None and not isinstance(data, _BUFFERS):
            raise TypeError("object with buffer protocol required")
        if conn_handle not in self._conns:
            raise OSError(errno.ENOTCONN)
        if value_handle not in self._db:
            raise OSError(errno.EINVAL)
        if notify_error is not None:
            raise OSError(notify_error)
        if notify_budget is not None:
            if notify_budget == 0:
                raise OSError(errno.ENOMEM)
            notify_budget -= 1
        if data is not None and len(data) > _MTU_PAYLOAD:
            raise RuntimeError("fake: NimBLE would cut this notification to MTU - 3 = 20 bytes")
        notified += 1
        if record:
            log.append(("notify", conn_handle, value_handle, bytes(data)))
            if _subscribed(self, conn_handle, value_handle):
                received.append(("notify", conn_handle, value_handle, bytes(data)))

    def gatts_set_buffer(self, value_handle, len, append=False):
        self._check_active()
        e = self._entry(value_handle)
        e.data = bytearray(len)
        e.len = 0
        e.append = bool(append)

    def gap_disconnect(self, conn_handle):
        if conn_handle not in self._conns:
            return False
        disconnect(conn_handle)
        return True


# central: what a phone does, delivered the way the stack delivers it


def _ble():
    return BLE._instance


def advertising():
    return _ble()._advertising


def _irq(event, data):
    ble = _ble()
    if ble._irq is not None:
        ble._irq(event, data)


def connect(conn_handle=0):
    ble = _ble()
    if not ble._advertising:
        raise RuntimeError("fake: not advertising, a central cannot connect")
    ble._advertising = False      # NimBLE stops advertising on a connection
    ble._conns.add(conn_handle)
    addr = memoryview(b"\x11\x22\x33\x44\x55\x66")   # only valid during the handler
    _irq(_IRQ_CENTRAL_CONNECT, (conn_handle, 0, addr))


def disconnect(conn_handle=0):
    ble = _ble()
    ble._conns.discard(conn_handle)
    for key in [k for k in ble._subscriptions if k[0] == conn_handle]:
        del ble._subscriptions[key]     # NimBLE: per connection, no bonding to keep it
    _irq(_IRQ_CENTRAL_DISCONNECT, (conn_handle, 0, memoryview(b"\x11\x22\x33\x44\x55\x66")))


def write(value_handle, data, conn_handle=0):
    """A GATT write from the central: stored as NimBLE stores it (replacing, or appending up to
    the buffer size and dropping the rest), then _IRQ_GATTS_WRITE."""
    ble = _ble()
    if conn_handle not in ble._conns:
        raise RuntimeError("fake: no central connected")
    if not ble._flags.get(value_handle, 0) & (FLAG_WRITE | FLAG_WRITE_NO_RESPONSE):
        raise RuntimeError("fake: the stack refuses writes to handle %d" % value_handle)
    if len(data) > _MTU_PAYLOAD:
        raise RuntimeError("fake: a central writes at most MTU - 3 = 20 bytes at a time")
    e = ble._db[value_handle]
    offset = e.len if e.append else 0
    n = min(len(e.data), offset + len(data))
    e.data[offset:n] = data[:n - offset]
    e.len = n
    _irq(_IRQ_GATTS_WRITE, (conn_handle, value_handle))


def subscribe(value_handle, on=True, conn_handle=0):
    """The central writes the CCCD after `value_handle` to enable (disable) notifications.
    No IRQ on either binding; btstack stores the value where gatts_read(value_handle + 1) sees it."""
    ble = _ble()
    if conn_handle not in ble._conns:
        raise RuntimeError("fake: no central connected")
    if not ble._flags.get(value_handle, 0) & (FLAG_NOTIFY | FLAG_INDICATE):
        raise RuntimeError("fake: handle %d has no CCCD" % value_handle)
    value = b"\x01\x00" if on else b"\x00\x00"
    if ble._stack == "btstack":
        e = ble._db[value_handle + 1]
        e.data[:2] = value
        e.len = 2
    else:
        ble._subscriptions[(conn_handle, value_handle)] = value[0]


def _subscribed(ble, conn_handle, value_handle):
    if ble._stack == "btstack":
        e = ble._db.get(value_handle + 1)
        return e is not None and e.len == 2 and e.data[0] & 1 == 1
    return ble._subscriptions.get((conn_handle, value_handle), 0) & 1 == 1


def handle_of(uuid):
    """The value handle of the characteristic with this UUID string, as a central discovers it."""
    for handle, u in _ble()._uuids.items():
        if u == UUID(uuid):
            return handle
    raise RuntimeError("fake: no characteristic %s" % uuid)


def reset():
    global stack
    BLE._instance = None
    stack = "nimble"
    del log[:]
    del received[:]
