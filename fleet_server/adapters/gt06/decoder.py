"""GT06 frames -> Reports, plus the answer the device waits for.

Pure: the connection's state (the IMEI its login gave) comes in, nothing is kept here. Traccar's
Gt06ProtocolDecoder is the reference for which frame type carries which blocks.

Identity of a report: GT06 frames carry a 16-bit serial number and (most) a fix time. A report's
(boot, seq) is (fix time, serial), so a frame sent twice is the same report, and the serial
wrapping or restarting after a reboot cannot fold two alarms together unless they also share
the second of their fix. A frame without a fix time (cell-only alarms) uses the hour it arrived in.
"""
from __future__ import annotations

import time

from protocols.rejection import Rejection, BAD_VALUE, TRUNCATED, UNKNOWN_DEVICE
from fleet_server.adapters import vocab
from fleet_server.adapters.gt06 import framing
from fleet_server.adapters.gt06.framing import Frame
from fleet_server.adapters.gt06.location import Reader, Short, read_gps, read_status, read_time, skip_lbs, ALARM_BYTE

LOGIN = 0x01
STATUS = 0x13            # heartbeat: terminal status, voltage level, GSM signal
HEARTBEAT_GK310 = 0x23
TIME_REQUEST = 0x8A
ALARM_JC100 = 0x95
X1_GPS = 0x34
LBS_STATUS = 0x19
LBS_ALARM = 0xA5         # GK310: cell block with 4-byte LAC and 8-byte cell, status, alarm
AZ735_GPS = 0x32         # extended frames only
AZ735_ALARM = 0x33       # extended frames only
COMMANDS = (0x80, 0x81, 0x82)

# Basic (7878) frame types with a GPS block, and how the rest of the frame is laid out:
# type -> (cell block: None | "plain" | "length" | "wide", has terminal status + alarm byte)
GPS_TYPES = {
    0x10: (None, False),          # GPS
    0x11: ("lbs6", False),        # GPS + LBS (6): 2-byte MNC, 4-byte cell
    0x12: ("plain", False),       # GPS + LBS
    0x22: ("plain", False),       # GPS + LBS (2), trailing ignition / reason / archive
    0x37: ("plain", False),
    0x2D: ("plain", False),
    0x31: ("plain", False),
    0x32: ("length", True),       # GPS + LBS + status (4)
    0x16: ("length", True),       # GPS + LBS + status: the alarm packet
    0x26: ("length", True),       # GPS + LBS + status (2)
    0x27: ("length", True),       # GPS + LBS + status (3)
    0x1A: (None, False),          # GPS + phone number
    0x1E: (None, False),
    0xA0: ("plain", False),       # GK310 GPS
    0xA3: ("plain", False),       # GK310 single fence
    0xA4: ("length", True),       # GK310 multi fence, with status and alarm
}

# Frames we answer but that carry no fix of their own: Wi-Fi and cell lists (to be geolocated by a
# service we do not run), command replies, ICCID and device information, photos, OBD data.
# Traccar reports these with the device's last known location; we do not invent a fix.
NO_FIX_TYPES = {0x15, 0x17, 0x18, 0x19, 0x1F, 0x21, 0x24, 0x25, 0x28, 0x2A, 0x2C, 0x2E, 0x35, 0x36, 0x38, 0x61,
                0x66, 0x69, 0x70, 0x84, 0x8C, 0x94, 0x9B, 0xA1, 0xA2, 0xA7, 0xF1, 0xF2, 0xF3, 0xFD}


class Result:
    """What one frame means: its reports, the bytes to answer with (None: no answer), the IMEI a
    login announced, and a note for the counters when the frame was only acknowledged."""
    __slots__ = ("reports", "answer", "imei", "note")

    def __init__(self, reports=None, answer=None, imei=None, note=None):
        self.reports = reports or []
        self.answer = answer
        self.imei = imei
        self.note = note

    def __repr__(self):
        return "Result(%r, imei=%s, note=%s)" % (self.reports, self.imei, self.note)


def _ack(frame: Frame) -> bytes:
    return framing.build(frame.type, frame.serial, extended=frame.extended)


def decode_login(frame: Frame) -> Result | Rejection:
    if len(frame.content) < 8:
        return Rejection(TRUNCATED, "login carries an 8-byte IMEI, got %d bytes" % len(frame.content))
    digits = frame.content[:8].hex()[1:]
    if not digits.isdigit():
        return Rejection(BAD_VALUE, "login IMEI %r is not BCD digits" % digits)
    return Result(answer=_ack(frame), imei=digits, note="login")


def _key(ts: int | None, serial: int, received_at: float) -> tuple[int, int]:
    if ts is not None:
        return ts, serial
    return int(received_at) // 3600 * 3600, serial


def _fix_reports(imei: str, frame: Frame, fix, received_at: float, alarms=()) -> list:
    ts = fix.ts if fix.ts is not None else int(received_at)
    boot, seq = _key(fix.ts, frame.serial, received_at)
    out = []
    if fix.ts is not None:
        out.append(vocab.position(imei, boot, seq, ts, fix.lat, fix.lon, spd=fix.spd, hdg=fix.hdg,
                                  fix=fix.valid, sats=fix.sats))
    age = max(0, int(received_at) - ts) if fix.valid else None
    for kind in alarms:
        out.append(vocab.alarm_or_event(imei, boot, seq, ts, kind, fix.lat, fix.lon, fix=fix.valid, age=age))
    return out


def _vxt01(frame: Frame) -> bool:
    """VXT01 trackers: a 36-byte alarm packet, no cell length byte, no alarm byte."""
    return frame.type == 0x16 and len(frame.content) == 31


def _skip_status_cells(r: Reader, frame: Frame) -> None:
    """The cell block of an alarm packet. Its length byte usually counts itself (9: MCC 2, MNC 1,
    LAC 2, cell 3); 4G trackers count only what follows, with a 4-byte cell id, which shows as one
    byte more before the 5-byte status block. VXT01 trackers send the 36-byte alarm packet with no
    length byte at all."""
    if _vxt01(frame):
        skip_lbs(r, frame.type, False)
        return
    left = r.left()
    if frame.type == 0x16 and left >= 1 and left - 1 == r.data[r.pos] + 5:
        r.skip(1 + r.data[r.pos])
        return
    skip_lbs(r, frame.type, True)


def decode_location(imei: str, frame: Frame, received_at: float) -> Result:
    layout, has_status = GPS_TYPES[frame.type]
    r = Reader(frame.content)
    fix = read_gps(r)
    alarms = []
    if layout == "length":
        _skip_status_cells(r, frame)
    elif layout == "lbs6":
        r.skip(2 + 2 + 2 + 4)
    elif layout is not None:
        try:
            skip_lbs(r, frame.type, False)
        except Short:
            # Nothing follows the cells of this layout and we do not use them: a shorter cell
            # block (GK310 variants) costs nothing. Layouts with a status block stay strict, so
            # an alarm byte is never read from the wrong place.
            pass
    if has_status:
        alarms = read_status(r, with_alarm_byte=not _vxt01(frame), vxt01=_vxt01(frame)).alarms
    return Result(_fix_reports(imei, frame, fix, received_at, alarms), answer=_ack(frame))


def decode_x1(imei: str, frame: Frame, received_at: float) -> Result:
    r = Reader(frame.content)
    r.skip(4)   # data and alarm
    return Result(_fix_reports(imei, frame, read_gps(r), received_at), answer=_ack(frame))


def decode_status(imei: str, frame: Frame, received_at: float) -> Result:
    """Heartbeat. Its status bits repeat an alarm state while it lasts: reported as an event only;
    the alarm itself comes in its own alarm frame, which is what becomes an incident."""
    out = [vocab.status(imei, "online")]
    if len(frame.content) >= 3 and len(frame.content) != 22:
        st = read_status(Reader(frame.content), with_alarm_byte=len(frame.content) >= 4)
        for kind in st.alarms:
            out.append(vocab.event(imei, int(received_at), kind))
    return Result(out, answer=_ack(frame))


def decode_lbs_status(imei: str, frame: Frame, received_at: float) -> Result:
    """Cell block + status + alarm byte, no GPS: an alarm without a fix is still an alarm."""
    r = Reader(frame.content)
    skip_lbs(r, frame.type, False, wide=frame.type == LBS_ALARM)
    st = read_status(r)
    out = [vocab.status(imei, "online")]
    boot, seq = _key(None, frame.serial, received_at)
    for kind in st.alarms:
        out.append(vocab.alarm_or_event(imei, boot, seq, int(received_at), kind, fix=False))
    return Result(out, answer=_ack(frame))


_JC100 = {0x80: "vibration", 0x87: "overspeed", 0x90: "hardAcceleration", 0x91: "hardBraking",
          0x92: "hardCornering", 0x93: "accident"}


def decode_jc100_alarm(imei: str, frame: Frame, received_at: float) -> Result:
    r = Reader(frame.content)
    extended = len(frame.content) > 7
    if extended:
        fix = read_gps(r, has_sats=False, has_speed=False)
    else:
        fix = None
        ts = read_time(r)
    code = r.u8()
    kind = ("sos" if extended else "general") if code == 0x01 else _JC100.get(code, "general")
    if fix is not None:
        return Result(_fix_reports(imei, frame, fix, received_at, (kind,)), answer=_ack(frame))
    boot, seq = _key(ts, frame.serial, received_at)
    t = ts if ts is not None else int(received_at)
    return Result([vocab.alarm_or_event(imei, boot, seq, t, kind, fix=False)], answer=_ack(frame))


_AZ735_STATUS = {0xA2: "lowBattery", 0xA3: "lowBattery", 0xA4: "general", 0xA5: "door"}


def decode_az735(imei: str, frame: Frame, received_at: float) -> Result:
    r = Reader(frame.content)
    start = r.pos
    fix = read_gps(r, has_length=True)
    if fix is None:
        r.pos = start + 7
    if skip_lbs(r, frame.type, True):
        r.u8()   # rssi
    # The optional lists that follow may be cut off where the frame has none (AZ735 alarm frames
    # without a fix end after an empty cell block): no status byte then means no alarm status.
    st = None
    if r.left():
        r.skip(r.u8())   # more cells
    if r.left():
        r.skip(r.u8())   # wifi access points
    if r.left():
        st = r.u8()
    kind = _AZ735_STATUS.get(st) if frame.type == AZ735_ALARM else None
    if fix is None:
        out = [vocab.status(imei, "online")]
        if kind is not None:
            boot, seq = _key(None, frame.serial, received_at)
            out.append(vocab.alarm_or_event(imei, boot, seq, int(received_at), kind, fix=False))
        return Result(out, answer=_ack(frame))
    return Result(_fix_reports(imei, frame, fix, received_at, (kind,) if kind else ()), answer=_ack(frame))


def time_answer(now: float) -> bytes:
    t = time.gmtime(now)
    content = bytes((t.tm_year - 2000, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec))
    return framing.build(TIME_REQUEST, 0, content)


def decode(frame: Frame, imei: str | None, received_at: float) -> Result | Rejection:
    """One parsed frame of a connection whose login gave `imei` (None before a login)."""
    try:
        return _decode(frame, imei, received_at)
    except Short as e:
        return Rejection(TRUNCATED, "frame type 0x%02X ends early: %s" % (frame.type, e))
    except Exception as e:  # a decoder bug must come out as a reason, never as a dropped connection
        return Rejection(BAD_VALUE, "frame type 0x%02X undecodable (%s)" % (frame.type, type(e).__name__))


def _decode(frame: Frame, imei: str | None, received_at: float) -> Result | Rejection:
    t = frame.type
    if t == LOGIN and not frame.extended:
        return decode_login(frame)
    if imei is None:
        return Rejection(UNKNOWN_DEVICE, "frame type 0x%02X before any login: the device is not known" % t)
    if frame.extended:
        if t in (AZ735_GPS, AZ735_ALARM):
            return decode_az735(imei, frame, received_at)
        return Result([vocab.status(imei, "online")], answer=None if t in COMMANDS else _ack(frame),
                      note="no_fix_0x%02X" % t)
    if t in GPS_TYPES:
        return decode_location(imei, frame, received_at)
    if t == X1_GPS:
        return decode_x1(imei, frame, received_at)
    if t == STATUS or t == HEARTBEAT_GK310:
        return decode_status(imei, frame, received_at)
    if t == LBS_STATUS or t == LBS_ALARM:
        return decode_lbs_status(imei, frame, received_at)
    if t == ALARM_JC100:
        return decode_jc100_alarm(imei, frame, received_at)
    if t == TIME_REQUEST:
        return Result([vocab.status(imei, "online")], answer=time_answer(received_at), note="time")
    if t in COMMANDS:
        return Result([vocab.status(imei, "online")], note="command_reply_0x%02X" % t)
    return Result([vocab.status(imei, "online")], answer=_ack(frame), note="no_fix_0x%02X" % t)


__all__ = ["decode", "Result", "GPS_TYPES", "NO_FIX_TYPES", "ALARM_BYTE"]
