"""The building blocks of GT06 location frames: the GPS block, the cell (LBS) block and the
terminal-status block, read the way Traccar's Gt06ProtocolDecoder reads them."""
from __future__ import annotations

import calendar

from fleet_server.adapters.vocab import cm_s_from_kmh


class Short(Exception):
    """The content ended before a block it announces."""


class Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0):
        self.data = data
        self.pos = pos

    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise Short("needs %d more bytes, has %d" % (n, self.left()))
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def u24(self) -> int:
        return int.from_bytes(self.take(3), "big")

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def skip(self, n: int) -> None:
        self.take(max(0, min(n, self.left())))


def read_time(r: Reader) -> int | None:
    """YY MM DD hh mm ss, the device clock (UTC, the GT06 default). None for an impossible date."""
    y, mo, d, h, mi, s = r.take(6)
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 60):
        return None
    try:
        return calendar.timegm((2000 + y, mo, d, h, mi, s, 0, 0, 0))
    except (ValueError, OverflowError):
        return None


class Fix:
    __slots__ = ("ts", "lat", "lon", "sats", "spd", "hdg", "valid", "ignition")

    def __init__(self):
        self.ts = None
        self.lat = self.lon = 0.0
        self.sats = None
        self.spd = None
        self.hdg = None
        self.valid = False
        self.ignition = None


def read_gps(r: Reader, has_length: bool = False, has_sats: bool = True, has_speed: bool = True) -> Fix | None:
    """The GPS block: time, [length], (info << 4 | satellites), lat and lon as u32 / 1,800,000,
    [speed km/h], course + flags (bits 0-9 course, 10 north, 11 west, 12 fixed, 14/15 ignition).
    None when a length byte of 0 says the block is empty."""
    f = Fix()
    f.ts = read_time(r)
    if has_length and r.u8() == 0:
        return None
    if has_sats:
        f.sats = r.u8() & 0x0F
    lat = r.u32() / 1800000.0
    lon = r.u32() / 1800000.0
    if has_speed:
        f.spd = cm_s_from_kmh(r.u8())
    flags = r.u16()
    f.hdg = (flags & 0x3FF) % 360
    f.valid = bool(flags & (1 << 12))
    if not flags & (1 << 10):
        lat = -lat
    if flags & (1 << 11):
        lon = -lon
    if flags & (1 << 14):
        f.ignition = bool(flags & (1 << 15))
    f.lat, f.lon = lat, lon
    if f.ts is None:
        f.valid = False
    return f


def skip_lbs(r: Reader, type_: int, has_length: bool, wide: bool = False) -> bool:
    """The cell block (MCC, MNC, LAC, cell id). We do not place units by cell; it is skipped.
    A length byte of 8 or 9 comes before the usual fields (trackers disagree on whether it counts
    itself), so those are read: MCC 2, MNC 1 (2 when the MCC's top bit says so), LAC 2, cell 3.
    A longer one counts itself and a wider block (16 for the GK310's 4-byte LAC and 8-byte cell).
    Without a length byte, `wide` blocks have a 4-byte LAC and an 8-byte cell id.
    False when a length byte of 0 says there is none."""
    if has_length:
        length = r.u8()
        if length == 0:
            start = r.pos
            zeroed = all(b == 0 for b in r.data[start + 9:start + 45])
            if zeroed:
                r.skip(45)
            return False
        if length > 9:
            r.take(length - 1)
            return True
    mcc = r.u16()
    r.take(2 if mcc & 0x8000 else 1)
    r.take(4 if wide else 2)
    r.take(8 if wide else 3)
    return True


# Terminal-status bits 3..5 (the "alarm" the status byte carries while it lasts).
STATUS_ALARMS = {1: "vibration", 2: "powerCut", 3: "lowBattery", 4: "sos", 6: "geofence", 7: "removing"}

# The alarm byte after the status block.
ALARM_BYTE = {
    0x01: "sos", 0x02: "powerCut", 0x03: "vibration", 0x09: "vibration", 0x04: "geofenceEnter",
    0x05: "geofenceExit", 0x06: "overspeed", 0x0E: "lowBattery", 0x0F: "lowBattery", 0x11: "powerOff",
    0x0C: "tampering", 0x13: "tampering", 0x25: "tampering", 0x14: "door", 0x18: "removing",
    0x19: "lowBattery", 0x1A: "hardBraking", 0x28: "hardBraking", 0x1B: "hardCornering",
    0x2A: "hardCornering", 0x2B: "hardCornering", 0x2E: "hardCornering", 0x23: "fallDown",
    0x29: "hardAcceleration", 0x2C: "accident", 0x30: "jamming",
}


class Status:
    __slots__ = ("alarms", "ignition", "charging", "battery_level", "rssi")

    def __init__(self):
        self.alarms = []
        self.ignition = self.charging = None
        self.battery_level = self.rssi = None


def read_status(r: Reader, with_alarm_byte: bool = True, vxt01: bool = False) -> Status:
    """status byte, voltage level (0..6, or percent), GSM signal (0..4), [alarm byte]. Both the status
    bits and the alarm byte can name an alarm: both are kept, so an SOS is never hidden by another."""
    st = Status()
    b = r.u8()
    st.ignition = bool(b & 0x02)
    st.charging = bool(b & 0x04)
    bits = (b >> 3) & 0x07
    by_bits = "overspeed" if vxt01 and bits == 7 else STATUS_ALARMS.get(bits)
    if by_bits is not None:
        st.alarms.append(by_bits)
    level = r.u8()
    st.battery_level = level * 100 // 6 if level <= 6 else (level if level <= 100 else None)
    st.rssi = r.u8()
    if with_alarm_byte:
        by_byte = ALARM_BYTE.get(r.u8())
        if by_byte is not None and by_byte not in st.alarms:
            st.alarms.append(by_byte)
    return st
