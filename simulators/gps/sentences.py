"""Writing NMEA 0183 text: checksums, coordinates and times from the integer units the wire
protocol uses (microdegrees, Unix seconds), and re-timing a captured sentence to another time.
Reading NMEA is the firmware parser's job (protocols.nmea.parse); this module only writes."""
from __future__ import annotations

import time

# Sentence types whose time (and date) fields a re-time rewrites: type -> (time index, date kind)
_TIME_FIELDS = {"RMC": (1, "rmc"), "GGA": (1, None), "GNS": (1, None), "GLL": (5, None),
                "ZDA": (1, "zda"), "GST": (1, None), "GRS": (1, None)}


def checksum(body: str) -> int:
    x = 0
    for ch in body.encode("ascii"):
        x ^= ch
    return x


def sentence(body: str, terminator: bytes = b"\r\n") -> bytes:
    """'GPRMC,...' -> b'$GPRMC,...*hh\\r\\n'."""
    return b"$%s*%02X%s" % (body.encode("ascii"), checksum(body), terminator)


def _angle(micro: int, degree_digits: int) -> tuple[str, bool]:
    # microdegrees x 60 is minutes x 1e6 exactly, so six decimals of minutes round-trip to the
    # same microdegree in the firmware parser.
    neg = micro < 0
    micro = abs(micro)
    deg, frac = divmod(micro, 1_000_000)
    minutes_e6 = frac * 60
    return "%0*d%02d.%06d" % (degree_digits, deg, minutes_e6 // 1_000_000, minutes_e6 % 1_000_000), neg


def lat_fields(micro: int) -> str:
    text, neg = _angle(micro, 2)
    return text + ("," + ("S" if neg else "N"))


def lon_fields(micro: int) -> str:
    text, neg = _angle(micro, 3)
    return text + ("," + ("W" if neg else "E"))


def hhmmss(ts: int, ms: int = 0, decimals: int = 2) -> str:
    t = time.gmtime(ts)
    out = "%02d%02d%02d" % (t.tm_hour, t.tm_min, t.tm_sec)
    if decimals:
        out += "." + ("%03d" % ms + "0" * decimals)[:decimals]
    return out


def ddmmyy(ts: int) -> str:
    t = time.gmtime(ts)
    return "%02d%02d%02d" % (t.tm_mday, t.tm_mon, t.tm_year % 100)


def retime(line: bytes, ts: int, ms: int = 0) -> bytes:
    """The same sentence with its time of day (and RMC/ZDA date) set to Unix second `ts` and
    millisecond `ms` (always three decimals, so epochs replayed faster than real time keep
    distinct times), and the checksum recomputed. A line without a valid checksum or of
    another type comes back unchanged, so a capture's faults survive the re-timing."""
    end = len(line)
    while end and line[end - 1] in b"\r\n":
        end -= 1
    body_end = end - 3
    if end < 7 or line[:1] != b"$" or line[body_end:body_end + 1] != b"*":
        return line
    try:
        body = line[1:body_end].decode("ascii")
        if "%02X" % checksum(body) != line[body_end + 1:end].decode("ascii").upper():
            return line
    except (UnicodeDecodeError, ValueError):
        return line
    fields = body.split(",")
    spec = _TIME_FIELDS.get(fields[0][2:]) if len(fields[0]) == 5 else None
    if spec is None:
        return line
    index, date_kind = spec
    if index >= len(fields) or len(fields[index]) < 6:
        return line
    t = time.gmtime(ts)
    fields[index] = hhmmss(ts, ms, 3)
    if date_kind == "rmc" and len(fields) > 9 and fields[9]:
        fields[9] = ddmmyy(ts)
    elif date_kind == "zda" and len(fields) > 4 and fields[2]:
        fields[2:5] = ["%02d" % t.tm_mday, "%02d" % t.tm_mon, "%04d" % t.tm_year]
    return sentence(",".join(fields), line[end:])
