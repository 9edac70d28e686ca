# NUS over MicroPython's nrf-port `ubluepy` (the Nano 33 BLE Sense has no `bluetooth`).
# ubluepy calls the connection handler from the SoftDevice's event interrupt with
# (event, handle, data): data is a bytearray over the event's memory, valid during the call.
# The handler allocates nothing: it copies RX bytes into a fixed ring that poll() drains.
from micropython import const
from ubluepy import UUID, Characteristic, Peripheral, Service, constants

from tinyml.telemetry import NUS_RX, NUS_SERVICE, NUS_TX

_RING = const(128)     # RX bytes buffered between two polls (one slot stays free)
# ble_drv.c puts the name (2 + n bytes), the flags (3) and the 128-bit service UUID (18) in one
# 31-byte advertising packet and has no scan response: the name fits in 8 bytes there
NAME_MAX = const(8)
_CONNECTED = constants.EVT_GAP_CONNECTED
_DISCONNECTED = constants.EVT_GAP_DISCONNECTED
_WRITE = constants.EVT_GATTS_WRITE


def value_handle(characteristic):
    """The attribute handle of a characteristic's value. ubluepy compiles getHandle() out
    (#if 0 in ubluepy_characteristic.c); its repr prints "Characteristic(handle: 0x0d, ...)"."""
    get = getattr(characteristic, "getHandle", None)
    if get:
        return get()
    text = repr(characteristic)
    start = text.index("handle: 0x") + 10
    return int(text[start:text.index(",", start)], 16)


class Link:
    def __init__(self, name):
        self.name = name[:NAME_MAX]
        self._service = Service(UUID(NUS_SERVICE))
        self._rx = Characteristic(UUID(NUS_RX), props=Characteristic.PROP_WRITE | Characteristic.PROP_WRITE_WO_RESP)
        self._tx = Characteristic(UUID(NUS_TX), props=Characteristic.PROP_NOTIFY, attrs=Characteristic.ATTR_CCCD)
        self._service.addCharacteristic(self._rx)
        self._service.addCharacteristic(self._tx)
        self._periph = Peripheral()
        self._periph.addService(self._service)
        self._services = [self._service]   # built once: advertise() runs again in the handler
        self._rx_handle = value_handle(self._rx)
        self._ring = bytearray(_RING)
        self._head = 0          # written by the handler only
        self._tail = 0          # written by read() only
        self.overrun = False
        self._connected = False
        self._subscribed = False
        self._periph.setConnectionHandler(self._event)
        self._advertise()

    def _advertise(self):
        self._periph.advertise(device_name=self.name, services=self._services)

    def _event(self, event, handle, data):
        if event == _WRITE:
            if handle == self._rx_handle:
                self._receive(data)
            elif data is not None and len(data) >= 1:
                # the only other writable attribute is TX's CCCD: bit 0 enables notifications
                self._subscribed = data[0] & 1 == 1
        elif event == _CONNECTED:
            self._connected = True
        elif event == _DISCONNECTED:
            self._connected = False
            self._subscribed = False
            self._advertise()   # reconnect without a reset, as ubluepy's own examples do

    def _receive(self, data):
        head = self._head
        tail = self._tail
        for b in data:
            nxt = head + 1
            if nxt == _RING:
                nxt = 0
            if nxt == tail:
                self.overrun = True
                break
            self._ring[head] = b
            head = nxt
        self._head = head

    def connected(self):
        return self._connected

    def notify(self, chunk):
        if not (self._connected and self._subscribed):
            return False
        try:
            self._tx.write(chunk)
        except OSError:
            return False
        return True

    def read(self):
        head = self._head
        tail = self._tail
        if head == tail:
            return None
        if head > tail:
            data = bytes(self._ring[tail:head])
        else:
            data = bytes(self._ring[tail:]) + bytes(self._ring[:head])
        self._tail = head
        return data
