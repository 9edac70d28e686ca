"""BLE advertising payloads decoded here, independently of the device code: the AD structures
of the Core Specification (Vol 3, Part C, 11) and what docs/telemetry.md promises about them."""

NUS_SERVICE = "6E400001-B5A3-F393-E0A9-E50E24DCCA9E"
NUS_SERVICE_LE = bytes.fromhex(NUS_SERVICE.replace("-", ""))[::-1]   # as it goes over the air
# names that fit the advertisement, just fit, just miss, fit only the scan response, fit nowhere,
# and multi-byte UTF-8 ones whose cut must not split a character
NAMES = ["t", "tinyml-s", "tinyml-si", "tinyml-sine", "tinyml-gesture-left-wrist-01", "x" * 29, "y" * 30,
         "tinyml-" + "z" * 40, "wörld-ßß", "été-données"]


def ad_structures(payload):
    """[(AD type, data)] of one advertising payload, parsed here from the Core Specification's
    format (Vol 3, Part C, 11: length byte covering type and data, type byte, data)."""
    fields, i = [], 0
    while i < len(payload):
        length = payload[i]
        assert length >= 1 and i + 1 + length <= len(payload), payload
        fields.append((payload[i + 1], bytes(payload[i + 2:i + 1 + length])))
        i += 1 + length
    return fields


def check_name_fields(name, adv, resp, uuid_type=0x07, resp_room=29):
    """The advertisement carries flags, the NUS UUID (under AD type uuid_type) and as much of the
    name as fits; the scan response (resp: None where the stack has none) the complete name when
    it was shortened, or as much of it as fits its resp_room bytes of name data."""
    encoded = name.encode()
    assert len(adv) <= 31 and (resp is None or len(resp) <= 31)
    fields = dict(ad_structures(adv))
    assert len(fields) == len(ad_structures(adv)), "an AD type twice"
    assert fields[0x01] == b"\x06"
    assert fields[uuid_type] == NUS_SERVICE_LE
    room = 31 - 3 - 18 - 2       # what the flags and the UUID leave for the name's data
    if len(encoded) <= room:
        assert fields[0x09] == encoded and 0x08 not in fields
        assert resp is None or 0x09 not in dict(ad_structures(resp))
        return
    short = fields[0x08]
    assert 0x09 not in fields and encoded.startswith(short) and len(short) <= room
    assert len(name[:len(short.decode())]) < len(name)          # a whole-character prefix...
    assert len(name[:len(short.decode()) + 1].encode()) > room  # ...as long as fits
    if resp is not None:
        rfields = dict(ad_structures(resp))
        if len(encoded) <= resp_room:
            assert rfields[0x09] == encoded and 0x08 not in rfields
        else:
            short = rfields[0x08]
            assert 0x09 not in rfields and encoded.startswith(short) and len(short) <= resp_room
            assert len(name[:len(short.decode()) + 1].encode()) > resp_room

