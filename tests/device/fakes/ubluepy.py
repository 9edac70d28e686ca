# A fake of MicroPython's nrf-port `ubluepy` module (ports/nrf/modules/ubluepy, ble_drv.c),
# peripheral role, for running tinyml's backend in the unix port. Same names, signatures,
# constants and event arguments; it rejects what the real one rejects (with its messages), and
# raises RuntimeError where the real one would crash or hang, so a test fails instead.
# Test-side controls (not in the real module) are the module functions after `# central`.

_MAX_ADV = 31               # BLE_GAP_ADV_MAX_SIZE
_MAX_TX_IN_PROGRESS = 10    # ble_drv.c, SoftDevice s132/s140: write() spins above this
_VALUE_MAX = 20             # characteristic values are added with max_len GATT_MTU_SIZE_DEFAULT - 3
_CONN_INVALID = 0xFFFF
_BUFFERS = (bytes, bytearray, memoryview)

log = []            # ("advertise", name, packet) ("advertise_stop",) ("notify", handle, bytes)
record = True       # False: count notifications only, so gc.mem_alloc() sees the caller alone
notified = 0
in_flight = 0       # notifications queued in the SoftDevice, not yet sent
auto_complete = True   # the radio sends each notification at once (HVN_TX_COMPLETE)
notify_error = None    # a SoftDevice status to fail the next notifications with, e.g. 0x13
_next_handle = [12]    # the SoftDevice's own GAP/GATT services take the first handles
_observer = [None]     # the Peripheral whose handler gets events (ble_drv keeps one)
_advertising = [False]


def _handle():
    h = _next_handle[0]
    _next_handle[0] += 1
    return h


class constants:
    EVT_GAP_CONNECTED = 16
    EVT_GAP_DISCONNECTED = 17
    EVT_GATTS_WRITE = 80
    UUID_CCCD = 0x2902
    ADDR_TYPE_PUBLIC = 0
    ADDR_TYPE_RANDOM_STATIC = 1

    class ad_types:
        AD_TYPE_FLAGS = 0x01
        AD_TYPE_16BIT_SERVICE_UUID_COMPLETE = 0x03
        AD_TYPE_128BIT_SERVICE_UUID_COMPLETE = 0x07
        AD_TYPE_SHORT_LOCAL_NAME = 0x08
        AD_TYPE_COMPLETE_LOCAL_NAME = 0x09


_HEX = "0123456789abcdefABCDEF"


class UUID:
    def __init__(self, uuid=None):
        self.type = 0
        self.value = None   # 16-bit value; for 128-bit UUIDs the bytes 12-13 as ubluepy keeps them
        self.full = None    # the 16 bytes of a 128-bit UUID, little-endian
        if uuid is None:
            return
        if isinstance(uuid, int):
            self.type, self.value = 1, uuid & 0xFFFF
        elif isinstance(uuid, str):
            if len(uuid) == 6:
                self.type, self.value = 1, int(uuid[2:], 16)
            elif len(uuid) == 36:
                digits = uuid.replace("-", "")
                if len(digits) != 32 or any(c not in _HEX for c in digits):
                    raise RuntimeError("fake: the real UUID() would accept this and register garbage")
                self.type = 2
                self.full = bytes(reversed(bytes(int(digits[i:i + 2], 16) for i in range(0, 32, 2))))
                self.value = self.full[12] | self.full[13] << 8
            else:
                raise ValueError("Invalid UUID string length")
        elif isinstance(uuid, UUID):
            self.type, self.value, self.full = uuid.type, uuid.value, uuid.full
        else:
            raise ValueError("Invalid UUID parameter")

    def binVal(self):
        return self.value

    def __repr__(self):
        return "UUID(uuid: 0x%04x)" % self.value


class Service:
    PRIMARY = 1
    SECONDARY = 2

    def __init__(self, uuid=None, type=1):
        self._uuid = uuid
        self._chars = []
        self._periph = None
        if not isinstance(uuid, UUID):
            raise ValueError("Invalid UUID parameter")
        if not 0 < type <= Service.PRIMARY:
            raise ValueError("Invalid Service type")
        self.handle = _handle()

    def addCharacteristic(self, characteristic):
        if not isinstance(characteristic, Characteristic):
            raise RuntimeError("fake: the real addCharacteristic() would crash on a non-Characteristic")
        characteristic._added(self)
        self._chars.append(characteristic)

    def getCharacteristics(self):
        return self._chars

    def getCharacteristic(self, uuid):
        if not isinstance(uuid, UUID):
            raise ValueError("Invalid UUID parameter")
        for c in self._chars:
            if c._uuid.type == uuid.type and c._uuid.value == uuid.value:
                return c
        return None

    def uuid(self):
        return self._uuid

    def __repr__(self):
        return "Service(handle: 0x%02x)" % self.handle


class Characteristic:
    PROP_BROADCAST = 0x01
    PROP_READ = 0x02
    PROP_WRITE_WO_RESP = 0x04
    PROP_WRITE = 0x08
    PROP_NOTIFY = 0x10
    PROP_INDICATE = 0x20
    PROP_AUTH_SIGNED_WR = 0x40
    ATTR_CCCD = 0x01

    def __init__(self, uuid, *, props=0x02 | 0x08, attrs=0):
        if not isinstance(uuid, UUID):
            raise ValueError("Invalid UUID parameter")
        self._uuid = uuid
        self._props = props
        self._attrs = attrs
        self._service = None
        self._handle = 0
        self._cccd = 0
        self._cccd_value = 0

    def _added(self, service):
        _handle()   # the characteristic declaration
        self._handle = _handle()
        if self._attrs & Characteristic.ATTR_CCCD:
            self._cccd = _handle()
        self._service = service

    def _periph(self):
        if self._service is None or self._service._periph is None:
            raise RuntimeError("fake: the real module dereferences a NULL service/peripheral here and crashes")
        return self._service._periph

    def write(self, data, *, with_response=False):
        global notified, in_flight
        periph = self._periph()
        if not isinstance(data, _BUFFERS):
            raise TypeError("object with buffer protocol required")
        if periph._role != "peripheral":
            raise RuntimeError("fake: central-role writes are not modelled")
        if not self._props & Characteristic.PROP_NOTIFY:
            raise RuntimeError("fake: attribute writes are not modelled")
        if in_flight > _MAX_TX_IN_PROGRESS:
            raise RuntimeError("fake: ubluepy would spin here until the radio sends (%d in flight)" % in_flight)
        status = 0
        if periph._conn == _CONN_INVALID:
            status = 0x3002        # BLE_ERROR_INVALID_CONN_HANDLE
        elif not self._cccd_value & 1:
            status = 0x08          # NRF_ERROR_INVALID_STATE: notifications not enabled
        elif len(data) > _VALUE_MAX:
            status = 0x0C          # NRF_ERROR_DATA_SIZE
        elif notify_error is not None:
            status = notify_error
        if status:
            raise OSError("Can not notify attribute value. status: 0x%02x" % status)
        notified += 1
        if not auto_complete:
            in_flight += 1
        if record:
            log.append(("notify", self._handle, bytes(data)))

    def read(self):
        return None     # peripheral role: the real one returns None

    def properties(self):
        return self._props

    def uuid(self):
        return self._uuid

    def __repr__(self):
        return "Characteristic(handle: 0x%02x, conn_handle: %02x)" % (self._handle, self._periph()._conn)


class DefaultDelegate:
    pass


class Peripheral:
    def __init__(self, device_addr=None, addr_type=None):
        self._conn = _CONN_INVALID
        self._conn_handler = None
        self._services = []
        self._role = None

    def withDelegate(self, delegate):
        pass

    def setNotificationHandler(self, func):
        pass

    def setConnectionHandler(self, func):
        self._conn_handler = func

    def addService(self, service):
        service._periph = self
        self._services.append(service)

    def getServices(self):
        return self._services

    def advertise(self, *, device_name=None, services=None, data=None, connectable=None):
        self._role = "peripheral"
        if data is not None and not isinstance(data, _BUFFERS):
            raise TypeError("object with buffer protocol required")
        has_data = data is not None and len(data) > 0
        packet = bytearray()
        name = device_name if isinstance(device_name, str) else ""
        if name:
            packet += bytes((1 + len(name.encode()), 0x09)) + name.encode()
        if not has_data:
            packet += b"\x02\x01\x06"    # flags only without data=
        if services is not None:
            services = list(services)
            for kind, field in ((1, 0x03), (2, 0x07)):
                uuids = b""
                for s in services:
                    if not isinstance(s, Service):
                        raise RuntimeError("fake: the real advertise() would read garbage from a non-Service")
                    u = s._uuid
                    if u.type == kind:
                        uuids += bytes((u.value & 0xFF, u.value >> 8)) if kind == 1 else u.full
                if uuids:
                    packet += bytes((1 + len(uuids), field)) + uuids
        if has_data:
            if len(data) + len(packet) > _MAX_ADV:
                raise OSError("can't fit data into advertisement packet")
            if packet:
                # ble_drv_advertise_data copies data= over the start of what it built and adds
                # its length: the name and services get overwritten, the tail is stale bytes
                raise RuntimeError("fake: data= with device_name or services sends garbage")
            packet = bytearray(data)
        if len(packet) > _MAX_ADV:
            # ble_drv.c writes past its 31-byte buffer first (undefined behaviour), then the
            # SoftDevice refuses the length
            raise OSError("Can not apply advertisement data. status: 0x09")
        if _advertising[0]:
            # ble_drv.c configures the advertising set before stopping it, and the SoftDevice
            # refuses new parameters while advertising (ble_gap.h, sd_ble_gap_adv_set_configure:
            # NRF_ERROR_INVALID_STATE)
            raise OSError("Can not apply advertisement data. status: 0x08")
        if connectable is None or connectable:
            _observer[0] = self
        _advertising[0] = True
        log.append(("advertise", name, bytes(packet)))

    def advertise_stop(self):
        _advertising[0] = False
        log.append(("advertise_stop",))

    def disconnect(self):
        pass    # a no-op in the real module too

    def __repr__(self):
        return "Peripheral(conn_handle: %02x)" % self._conn


# central: what a phone does, delivered the way ble_drv.c delivers it


def advertising():
    return _advertising[0]


def _event(event, handle, data):
    periph = _observer[0]
    if periph is None:
        raise RuntimeError("fake: no connectable advertising, nobody could connect")
    if periph._conn_handler is not None:
        periph._conn_handler(event, handle, data)


def connect(conn_handle=0):
    periph = _observer[0]
    if not _advertising[0]:
        raise RuntimeError("fake: not advertising, a central cannot connect")
    _advertising[0] = False      # the SoftDevice stops advertising on connection
    periph._conn = conn_handle
    _event(constants.EVT_GAP_CONNECTED, conn_handle, None)


def disconnect():
    periph = _observer[0]
    handle = periph._conn
    periph._conn = _CONN_INVALID
    for s in periph._services:
        for c in s._chars:
            c._cccd_value = 0    # no bonding: the CCCD resets with the connection
    _event(constants.EVT_GAP_DISCONNECTED, handle, None)


def _find(handle):
    for s in _observer[0]._services:
        for c in s._chars:
            if handle in (c._handle, c._cccd):
                return c
    raise RuntimeError("fake: no attribute with handle %d" % handle)


def write(handle, data):
    """A GATT write from the central to an attribute handle (a value or a CCCD): ble_drv.c
    (micropython 1c3c201, ports/nrf/drivers/bluetooth/ble_drv.c:977-985) passes every
    BLE_GATTS_EVT_WRITE with its handle and bytes, the CCCD's included, to the handler
    (ubluepy_peripheral.c:71-84)."""
    if _observer[0]._conn == _CONN_INVALID:
        raise RuntimeError("fake: no central connected")
    c = _find(handle)
    if handle == c._cccd:
        c._cccd_value = data[0] | data[1] << 8
    elif not c._props & (Characteristic.PROP_WRITE | Characteristic.PROP_WRITE_WO_RESP):
        raise RuntimeError("fake: the SoftDevice refuses writes to this characteristic")
    elif len(data) > _VALUE_MAX:
        raise RuntimeError("fake: a write longer than the attribute's max_len is refused by the SoftDevice")
    # the handler gets a bytearray over the SoftDevice's event buffer, valid during the call
    buf = bytearray(data)
    _event(constants.EVT_GATTS_WRITE, handle, buf)
    for i in range(len(buf)):
        buf[i] = 0xEE   # reused by the next event: whoever kept a reference now sees garbage


def characteristic_of(uuid):
    """The registered Characteristic with this UUID string, as a central discovers it."""
    wanted = UUID(uuid)
    for s in _observer[0]._services:
        for c in s._chars:
            if c._uuid.full == wanted.full and c._uuid.value == wanted.value:
                return c
    raise RuntimeError("fake: no characteristic %s" % uuid)


def handle_of(uuid):
    return characteristic_of(uuid)._handle


def subscribe(uuid, on=True):
    """The central writes the characteristic's CCCD to enable (disable) notifications."""
    write(characteristic_of(uuid)._cccd, b"\x01\x00" if on else b"\x00\x00")


def tx_complete(count):
    global in_flight
    in_flight -= count
