# NMEA 0183 for the tracker's GPS UART. Plain Python that runs unchanged on MicroPython and
# CPython. No floats anywhere: ESP32 floats are single precision (7 digits), which cannot hold a
# coordinate to a microdegree, so every value is parsed from its decimal text into integers.
#
#   parse_sentence(line)  one sentence (bytes or str, no line terminator) -> dict or Rejection
#   NmeaReader().feed(b)  bytes from a UART, in any chunking -> list of dicts / Rejections
#   EpochAssembler        merges RMC+GGA(+GSA/VTG/GNS/GLL/ZDA) of one epoch into one `pos` fix
#
# A sentence is accepted without a "*hh" checksum only when it is proprietary ($P...): several
# receivers (MTK $POLYN, GPS-320FW $PLCS) send those bare, while a bare standard sentence is more
# likely a line cut short by noise. Bad input is returned as a Rejection, never raised.
from protocols.civil import days_from_civil
from protocols.rejection import Rejection, BAD_CHECKSUM, BAD_FORMAT, BAD_VALUE, TRUNCATED, OVERSIZE


MAX_SENTENCE = 1024    # bytes from "$" to the checksum; NMEA says 82, u-blox $PUBX,03 sends 378
UERE_M = 5             # user equivalent range error (m): acc = HDOP x UERE, a 1-sigma-ish guess

TALKERS = ("GP", "GN", "GL", "GA", "BD", "GB", "GQ")
_HEX = "0123456789ABCDEF"


def _checksum(data, start, end):
    """XOR of bytes data[start:end], or -1 if one is not printable ASCII (NUL, line noise)."""
    x = 0
    for i in range(start, end):
        b = data[i]
        if b < 0x20 or b > 0x7E:
            return -1
        x ^= b
    return x


def _decimal(text):
    """'-12.3450' -> (-123450, 4); '' -> None; anything else -> False."""
    if not text:
        return None
    neg = text[0] == "-"
    if neg or text[0] == "+":
        text = text[1:]
    dot = text.find(".")
    if dot < 0:
        whole, frac = text, ""
    else:
        whole, frac = text[:dot], text[dot + 1:]
    if not (whole or frac) or (whole and not whole.isdigit()) or (frac and not frac.isdigit()):
        return False
    v = int(whole + frac) if (whole + frac) else 0
    return (-v if neg else v, len(frac))


def _div_round(num, den):
    """num/den rounded to the nearest integer, halves away from zero (den > 0)."""
    if num < 0:
        return -((-num * 2 + den) // (den * 2))
    return (num * 2 + den) // (den * 2)


def _scaled(text, scale, what):
    """Decimal text times `scale`, rounded: ('1.25', 10) -> 13. None if empty."""
    d = _decimal(text)
    if d is None:
        return None
    if d is False:
        raise ValueError("%s %r is not a number" % (what, text[:16]))
    return _div_round(d[0] * scale, 10 ** d[1])


def _coord(text, hemi, degree_digits, limit, what):
    """ddmm.mmmm / dddmm.mmmm + hemisphere -> integer microdegrees, or None when empty."""
    if not text:
        return None
    dot = text.find(".")
    whole = text if dot < 0 else text[:dot]
    if len(whole) != degree_digits + 2 or not whole.isdigit():
        raise ValueError("%s %r is not %s" % (what, text[:20], "d" * degree_digits + "mm.mmmm"))
    if hemi not in ("N", "S") if degree_digits == 2 else hemi not in ("E", "W"):
        raise ValueError("%s hemisphere %r is not valid" % (what, hemi[:4]))
    deg = int(whole[:degree_digits])
    minutes = _decimal(text[degree_digits:])
    if not minutes:
        raise ValueError("%s minutes in %r are not a number" % (what, text[:20]))
    mval, mdigits = minutes
    if mval >= 60 * 10 ** mdigits:
        raise ValueError("%s minutes in %r are 60 or more" % (what, text[:20]))
    micro = deg * 1000000 + _div_round(mval * 1000000, 60 * 10 ** mdigits)
    if micro > limit:
        raise ValueError("%s %r is beyond %d degrees" % (what, text[:20], limit // 1000000))
    return -micro if hemi in ("S", "W") else micro


def _time_of_day(text):
    """hhmmss[.sss] -> milliseconds since midnight (fraction truncated), None when empty."""
    if not text:
        return None
    dot = text.find(".")
    whole = text if dot < 0 else text[:dot]
    frac = "" if dot < 0 else text[dot + 1:]
    if len(whole) != 6 or not whole.isdigit() or (frac and not frac.isdigit()):
        raise ValueError("time %r is not hhmmss.ss" % text[:16])
    h, m, s = int(whole[0:2]), int(whole[2:4]), int(whole[4:6])
    if h > 23 or m > 59 or s > 60:
        raise ValueError("time %r is out of range" % text[:16])
    ms = int((frac + "000")[:3]) if frac else 0
    return ((h * 60 + m) * 60 + s) * 1000 + ms


def _valid_date(y, m, d):
    if m < 1 or m > 12 or d < 1:
        return False
    mdays = (31, 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28, 31, 30, 31, 30,
             31, 31, 30, 31, 30, 31)
    return d <= mdays[m - 1]


def _date_ddmmyy(text):
    """RMC ddmmyy -> days since epoch. Two-digit years 80..99 are 19xx (GPS began in 1980)."""
    if not text:
        return None
    if len(text) != 6 or not text.isdigit():
        raise ValueError("date %r is not ddmmyy" % text[:12])
    d, m, yy = int(text[0:2]), int(text[2:4]), int(text[4:6])
    y = 1900 + yy if yy >= 80 else 2000 + yy
    if not _valid_date(y, m, d):
        raise ValueError("date %r does not exist" % text)
    return days_from_civil(y, m, d)


def _int(text, lo, hi, what):
    if not text:
        return None
    if not text.isdigit():
        raise ValueError("%s %r is not a whole number" % (what, text[:12]))
    v = int(text)
    if v < lo or v > hi:
        raise ValueError("%s %d is outside %d..%d" % (what, v, lo, hi))
    return v


def _alnum_upper(s):
    for ch in s:
        if not ("A" <= ch <= "Z" or "0" <= ch <= "9"):
            return False
    return True


def _field(f, i):
    # Receivers drop empty trailing fields; a missing field reads as empty.
    return f[i] if i < len(f) else ""


def _course(text):
    c = _scaled(text, 1, "course")
    return None if c is None else c % 360


def _position(f, i, claimed):
    """lat, lon from fields i..i+3. A receiver without a fix may fill them with placeholders
    (MTK sends 8960.000000, 89 degrees 60 minutes): those read as no position, not as an error."""
    try:
        return (_coord(_field(f, i), _field(f, i + 1), 2, 90000000, "latitude"),
                _coord(_field(f, i + 2), _field(f, i + 3), 3, 180000000, "longitude"))
    except ValueError:
        if claimed:
            raise
        return None, None


def _rmc(f, out):
    out["tod"] = _time_of_day(_field(f, 1))
    status = _field(f, 2)
    out["status"] = status
    out["lat"], out["lon"] = _position(f, 3, status == "A")
    out["spd"] = _scaled(_field(f, 7), 463, "speed")
    if out["spd"] is not None:   # knots -> cm/s: 1852 m / 3600 s = 463 / 9 cm/s
        out["spd"] = _div_round(out["spd"], 9)
    out["hdg"] = _course(_field(f, 8))
    out["date"] = _date_ddmmyy(_field(f, 9))
    # NMEA 2.3 mode indicator (field 12): N = no fix. The 4.1 nav status (13) is ignored on
    # purpose: the Quectel EG25-G sends 'V' there with a good fix, and gpsd uses the fix.
    mode = f[12] if len(f) > 12 else None
    out["mode"] = mode
    out["fix"] = (status == "A" and mode != "N" and mode != "" and out["lat"] is not None
                  and out["lon"] is not None)


def _gga(f, out):
    out["tod"] = _time_of_day(_field(f, 1))
    q = _int(_field(f, 6), 0, 8, "fix quality")
    out["lat"], out["lon"] = _position(f, 2, bool(q))
    out["fixq"] = q
    out["sats"] = _int(_field(f, 7), 0, 99, "satellites")
    out["hdop"] = _scaled(_field(f, 8), 10, "HDOP")
    out["alt"] = _scaled(_field(f, 9), 10, "altitude")
    out["fix"] = bool(q) and out["lat"] is not None and out["lon"] is not None


def _gns(f, out):
    out["tod"] = _time_of_day(_field(f, 1))
    mode = _field(f, 6)   # one letter per constellation, N = no fix in that one
    out["lat"], out["lon"] = _position(f, 2, mode.replace("N", "") != "")
    out["mode"] = mode
    out["sats"] = _int(_field(f, 7), 0, 99, "satellites")
    out["hdop"] = _scaled(_field(f, 8), 10, "HDOP")
    out["alt"] = _scaled(_field(f, 9), 10, "altitude")
    fixed = False
    for ch in mode:
        if ch != "N":
            fixed = True
    out["fix"] = fixed and out["lat"] is not None and out["lon"] is not None


def _gll(f, out):
    # lat,N,lon,E,time,status[,mode]: some receivers (SiRF) send it first in the epoch.
    status = _field(f, 6)
    mode = f[7] if len(f) > 7 else None
    out["status"] = status
    out["tod"] = _time_of_day(_field(f, 5))
    out["lat"], out["lon"] = _position(f, 1, status == "A")
    out["fix"] = (status == "A" and mode != "N" and mode != "" and out["lat"] is not None
                  and out["lon"] is not None)


def _vtg(f, out):
    if _field(f, 2) == "T" or _field(f, 2) == "":
        # NMEA 2.x: course,T,course,M,knots,N,kmh,K[,mode]
        out["hdg"] = _course(_field(f, 1))
        knots = _field(f, 5)
    else:
        # NMEA 1.x without unit letters: course,course,knots,kmh
        out["hdg"] = _course(_field(f, 1))
        knots = _field(f, 3)
    s = _scaled(knots, 463, "speed")
    out["spd"] = None if s is None else _div_round(s, 9)


def _gsa(f, out):
    out["fixtype"] = _int(_field(f, 2), 1, 3, "fix type")
    out["hdop"] = _scaled(_field(f, 16), 10, "HDOP")
    n = 0
    for i in range(3, 15):
        if _field(f, i):
            n += 1
    out["used"] = n


def _zda(f, out):
    out["tod"] = _time_of_day(_field(f, 1))
    d = _int(_field(f, 2), 1, 31, "day")
    m = _int(_field(f, 3), 1, 12, "month")
    y = _int(_field(f, 4), 1980, 2199, "year")
    if d is None or m is None or y is None:
        out["date"] = None
    elif not _valid_date(y, m, d):
        raise ValueError("date %04d-%02d-%02d does not exist" % (y, m, d))
    else:
        out["date"] = days_from_civil(y, m, d)


_DECODERS = {"RMC": _rmc, "GGA": _gga, "GNS": _gns, "GLL": _gll, "VTG": _vtg, "GSA": _gsa, "ZDA": _zda}


def parse_sentence(line):
    """Parse one whole sentence ('$' .. checksum, no CR/LF). Returns a dict with at least
    talker, type and cs (True if a checksum was checked, False if a proprietary sentence came
    without one) plus, for RMC/GGA/GNS/GLL/VTG/GSA/ZDA, their values as integers; or a
    Rejection."""
    if type(line) is str:
        line = line.encode()
    n = len(line)
    if n == 0 or line[0] not in (0x24, 0x21):   # '$' or '!'
        return Rejection(BAD_FORMAT, "sentence does not start with '$'")
    if n > MAX_SENTENCE:
        return Rejection(OVERSIZE, "sentence is %d bytes, more than %d" % (n, MAX_SENTENCE))
    star = n - 3
    has_cs = star >= 1 and line[star] == 0x2A   # '*'
    end = star if has_cs else n
    x = _checksum(line, 1, end)
    if x < 0:
        return Rejection(BAD_FORMAT, "sentence holds bytes that are not printable ASCII")
    body = line[1:end].decode()
    if "*" in body or "$" in body or "!" in body:
        return Rejection(BAD_FORMAT, "sentence holds a stray '*', '$' or '!' (glued or cut)")
    # The checksum is judged before the address: a line mangled in transit is a checksum
    # failure whatever its first field looks like.
    if has_cs:
        raw = line[star + 1:n]
        # Judge the two bytes before decoding them: noise there may not even be ASCII.
        if len(raw) != 2 or raw[0] > 0x7F or raw[1] > 0x7F:
            return Rejection(BAD_FORMAT, "checksum is not two hex digits")
        hh = raw.decode().upper()
        if hh[0] not in _HEX or hh[1] not in _HEX:
            return Rejection(BAD_FORMAT, "checksum %r is not two hex digits" % hh)
        if int(hh, 16) != x:
            return Rejection(BAD_CHECKSUM, "checksum %s does not match %02X" % (hh, x))
    fields = body.split(",")
    addr = fields[0]
    proprietary = addr[:1] == "P"
    if proprietary:
        talker, kind = "P", addr
        if len(addr) < 2 or not _alnum_upper(addr):
            return Rejection(BAD_FORMAT, "proprietary address %r is not valid" % addr[:12])
    else:
        if len(addr) != 5 or not _alnum_upper(addr) or not addr[:3].isalpha():   # R00 exists
            return Rejection(BAD_FORMAT, "address field %r is not talker + type" % addr[:12])
        talker, kind = addr[:2], addr[2:]
    if not has_cs and not proprietary:
        return Rejection(BAD_FORMAT, "%s sentence has no checksum" % addr)
    out = {"talker": talker, "type": kind, "cs": has_cs}
    decoder = _DECODERS.get(kind) if talker in TALKERS else None
    if decoder is not None:
        try:
            decoder(fields, out)
        except ValueError as e:
            return Rejection(BAD_VALUE, "%s%s: %s" % (talker, kind, e))
    return out


class NmeaReader:
    """Frames sentences out of a UART byte stream in any chunking. A sentence ends at CR or LF;
    a '$' or '!' inside a sentence starts the next one (a receiver glued or cut them), and the
    part before it is kept only if its own checksum proves it complete. NULs and noise between
    sentences are reported once per run."""

    def __init__(self):
        self._buf = b""
        self._noise_bytes = 0     # noise seen in the current run between sentences
        self._discard = False     # dropping the tail of an oversize sentence until a line end
        self.stats = {"ok": 0, "rejected": 0}

    def feed(self, data):
        buf = self._buf + bytes(data)
        out = []
        i = 0
        n = len(buf)
        while i < n:
            d = buf.find(b"$", i)
            e = buf.find(b"!", i)
            start = d if e < 0 or (0 <= d < e) else e
            self._noise(buf, i, n if start < 0 else start, out)
            if start < 0:
                i = n
                break
            self._end_noise(out)
            self._discard = False
            j = self._sentence_end(buf, start + 1, n)
            if j < 0:
                if n - start > MAX_SENTENCE:
                    self._emit(out, Rejection(OVERSIZE, "no line end within %d bytes" % MAX_SENTENCE))
                    self._discard = True
                    i = start + 1
                    continue
                i = start
                break
            stop = buf[j]
            if stop == 0x24 or stop == 0x21:
                r = parse_sentence(buf[start:j])
                if type(r) is not dict:
                    r = Rejection(TRUNCATED, "sentence cut off by the start of the next one")
                self._emit(out, r)
            else:
                self._emit(out, parse_sentence(buf[start:j]))
            i = j
        self._buf = buf[i:] if i < n else b""
        return out

    def _sentence_end(self, buf, k, n):
        best = -1
        for ch in (b"\r", b"\n", b"$", b"!"):
            p = buf.find(ch, k)
            if p >= 0 and (best < 0 or p < best):
                best = p
        return best

    def _noise(self, buf, i, j, out):
        # Noise is reported once per run, at the run's end (line end or '$'), so the result
        # does not depend on how the UART chunked the bytes.
        for k in range(i, j):
            b = buf[k]
            if b == 0x0D or b == 0x0A:
                self._end_noise(out)
                self._discard = False
            elif b != 0x20 and b != 0 and not self._discard:
                self._noise_bytes += 1

    def _end_noise(self, out):
        if self._noise_bytes:
            self._emit(out, Rejection(BAD_FORMAT, "%d bytes of noise outside a sentence" % self._noise_bytes))
            self._noise_bytes = 0

    def _emit(self, out, r):
        if type(r) is dict:
            self.stats["ok"] += 1
        else:
            self.stats["rejected"] += 1
        out.append(r)


def acc_from_hdop(hdop10, uere=UERE_M):
    """Horizontal accuracy estimate (m) from HDOP x 10: HDOP x UERE, rounded."""
    if hdop10 is None:
        return None
    return _div_round(hdop10 * uere, 10)


POS_KEYS = ("ts", "lat", "lon", "acc", "spd", "hdg", "alt", "fixq", "sats", "hdop")


class EpochAssembler:
    """Merges the sentences of one epoch (same time of day) into one fix with the `pos` message's
    fields, in integer units: ts (Unix s), lat/lon (µdeg), acc (m), spd (cm/s), hdg (deg),
    alt (dm), fixq, sats, hdop (x10); plus ms (the fix's milliseconds, for exact comparisons).

    feed(sentence) returns the previous epoch's fix when a new epoch begins (or None); flush()
    ends the current one. An epoch without a usable position yields no fix: `nofix` counts those
    and `last_fix_tod` tells the caller how old its last fix is. Time-less sentences (GSA, VTG)
    belong to the epoch in progress. The date comes from RMC or ZDA and is carried across epochs
    (rolled over at midnight) so GGA-only receivers still get a timestamp."""

    def __init__(self, uere=UERE_M):
        self.uere = uere
        self.nofix = 0
        self._date = None       # days since epoch of the last dated sentence
        self._date_tod = None   # and its time of day, to detect the midnight rollover
        self._cur = None

    def feed(self, s):
        if type(s) is not dict:
            return None
        tod = s.get("tod")
        done = None
        if tod is not None and self._cur is not None and self._cur["tod"] != tod:
            done = self.flush()
        if self._cur is None:
            if tod is None:
                return done     # a time-less sentence between epochs has no epoch to join
            self._cur = {"tod": tod}
        self._merge(s)
        return done

    def _merge(self, s):
        cur = self._cur
        kind = s["type"]
        if s.get("date") is not None:
            self._date = s["date"]
            self._date_tod = s.get("tod")
        if kind == "RMC":
            # The receiver's own verdict on the epoch: an RMC 'V' outweighs a GGA quality.
            cur["rmc"] = s["fix"]
            if s["fix"]:
                cur["lat"] = s["lat"]
                cur["lon"] = s["lon"]
        elif kind in ("GGA", "GNS", "GLL") and s.get("fix"):
            cur["fix"] = True
            if "lat" not in cur:
                cur["lat"] = s["lat"]
                cur["lon"] = s["lon"]
        for k in ("spd", "hdg", "alt", "fixq", "sats", "hdop"):
            v = s.get(k)
            if v is not None and (k != "hdop" or kind != "GSA" or "hdop" not in cur):
                cur[k] = v

    def flush(self):
        cur = self._cur
        self._cur = None
        if cur is None:
            return None
        fixed = cur["rmc"] if "rmc" in cur else cur.get("fix", False)
        if not fixed:
            self.nofix += 1
            return None
        tod = cur["tod"]
        ts = None
        if self._date is not None:
            day = self._date
            if self._date_tod is not None and tod < self._date_tod - 43200000:
                day += 1    # past midnight since the last dated sentence
            ts = day * 86400 + tod // 1000
        fix = {"ts": ts, "ms": tod % 1000, "lat": cur["lat"], "lon": cur["lon"],
               "acc": acc_from_hdop(cur.get("hdop"), self.uere)}
        for k in ("spd", "hdg", "alt", "fixq", "sats", "hdop"):
            fix[k] = cur.get(k)
        return fix
