# SMS PDU codec (3GPP TS 23.040 / 23.038), plain Python for both runtimes: the device encodes its
# SOS SUBMIT with it and the center's gateway decodes what its modem stores. No datetime (MicroPython
# has none): a time is a tuple (year, month, day, hour, minute, second, tz_quarter_hours) and
# unix_seconds()/iso() convert it. Decoders raise PduError (a ValueError) with a sentence; callers at
# the edge turn that into a Rejection.
from binascii import hexlify, unhexlify
from protocols.civil import days_from_civil


class PduError(ValueError):
    pass


# GSM 03.38 default alphabet; index = septet value. 0x1B is the escape to the extension table.
GSM7 = ("@\u00a3$\u00a5\u00e8\u00e9\u00f9\u00ec\u00f2\u00c7\n\u00d8\u00f8\r\u00c5\u00e5"
        "\u0394_\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e\x1b\u00c6\u00e6\u00df\u00c9"
        " !\"#\u00a4%&'()*+,-./0123456789:;<=>?"
        "\u00a1ABCDEFGHIJKLMNOPQRSTUVWXYZ\u00c4\u00d6\u00d1\u00dc\u00a7"
        "\u00bfabcdefghijklmnopqrstuvwxyz\u00e4\u00f6\u00f1\u00fc\u00e0")
GSM7_EXT = {0x0A: "\x0c", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~", 0x3E: "]",
            0x40: "|", 0x65: "\u20ac"}
_ENC = {}
for _i in range(128):
    if _i != 0x1B:
        _ENC[GSM7[_i]] = (_i,)
for _k in GSM7_EXT:
    _ENC[GSM7_EXT[_k]] = (0x1B, _k)

# TP-MTI values (low two bits of the first octet) per direction as the modem stores them.
DELIVER = "SMS-DELIVER"
SUBMIT = "SMS-SUBMIT"
STATUS_REPORT = "SMS-STATUS-REPORT"

MAX_DIGITS = 20          # TS 23.040 9.1.2.5: an address holds at most 20 semi-octets
MAX_SMSC_OCTETS = 11     # TS 24.011: RP address, type octet + 10 digit octets
GSM7_SINGLE = 160
GSM7_PART = 153          # septets per part once a 6-octet concatenation header takes its 7 septets
UCS2_SINGLE = 70
UCS2_PART = 67
_SEMI = "0123456789*#abc"


# --- alphabets ---------------------------------------------------------------------------------

def gsm7_encode(text, discard=False):
    """Text -> list of septet values (escape pairs for the extension table). ValueError on a
    character GSM-7 cannot carry, unless discard=True drops it."""
    out = []
    for ch in text:
        code = _ENC.get(ch)
        if code is None:
            if discard:
                continue
            raise ValueError("character %r is not in the GSM-7 alphabet" % ch)
        out.extend(code)
    return out


def gsm7_fits(text):
    for ch in text:
        if ch not in _ENC:
            return False
    return True


def gsm7_decode(septets):
    out = []
    esc = False
    for s in septets:
        s &= 0x7F
        if esc:
            # An unknown extension code shows its basic-table character (TS 23.038 6.2.1.1).
            out.append(GSM7_EXT.get(s, GSM7[s] if s != 0x1B else " "))
            esc = False
        elif s == 0x1B:
            esc = True
        else:
            out.append(GSM7[s])
    return "".join(out)


def pack_septets(septets, fill_bits=0):
    out = bytearray()
    acc = 0
    nbits = fill_bits
    for s in septets:
        acc |= (s & 0x7F) << nbits
        nbits += 7
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits > 0:
        out.append(acc & 0xFF)
    return bytes(out)


def unpack_septets(data, count, fill_bits=0):
    out = []
    acc = 0
    nbits = 0
    skip = fill_bits
    for b in data:
        acc |= b << nbits
        nbits += 8
        if skip:
            acc >>= skip
            nbits -= skip
            skip = 0
        while nbits >= 7 and len(out) < count:
            out.append(acc & 0x7F)
            acc >>= 7
            nbits -= 7
        if len(out) >= count:
            break
    return out


def ucs2_encode(text):
    out = bytearray()
    for ch in text:
        c = ord(ch)
        if c > 0xFFFF:  # surrogate pair, as UTF-16 would carry it
            c -= 0x10000
            for u in (0xD800 | (c >> 10), 0xDC00 | (c & 0x3FF)):
                out.append(u >> 8)
                out.append(u & 0xFF)
        else:
            out.append(c >> 8)
            out.append(c & 0xFF)
    return bytes(out)


def ucs2_decode(data):
    out = []
    i = 0
    n = len(data) - (len(data) & 1)  # an odd trailing octet is not a character
    while i < n:
        u = (data[i] << 8) | data[i + 1]
        i += 2
        if 0xD800 <= u < 0xDC00 and i + 1 < n:
            lo = (data[i] << 8) | data[i + 1]
            if 0xDC00 <= lo < 0xE000:
                i += 2
                out.append(chr(0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00)))
                continue
        if 0xD800 <= u < 0xE000:
            out.append("\ufffd")
        else:
            out.append(chr(u))
    return "".join(out)


def septet_length(text):
    return len(gsm7_encode(text))


# --- semi-octets, addresses, timestamps ----------------------------------------------------------

def encode_semi_octets(digits):
    if len(digits) & 1:
        digits = digits + "F"
    out = bytearray()
    for i in range(0, len(digits), 2):
        out.append(int(digits[i + 1] + digits[i], 16))
    return bytes(out)


def decode_semi_octets(data, count=None):
    out = []
    for b in data:
        for nib in (b & 0x0F, b >> 4):
            if nib == 0x0F:
                return "".join(out)
            out.append(_SEMI[nib])
            if count is not None and len(out) >= count:
                return "".join(out)
    return "".join(out)


def _is_phone(number):
    digits = number[1:] if number.startswith("+") else number
    if not digits or len(digits) > MAX_DIGITS:
        return False
    for ch in digits:
        if ch not in "0123456789":
            return False
    return True


def encode_address(number):
    """TP-DA/TP-OA field: length in semi-octets, type, value. '+' means international (0x91),
    other digits national (0xA1), anything else alphanumeric (0xD0, GSM-7 packed)."""
    if _is_phone(number):
        if number.startswith("+"):
            digits, toa = number[1:], 0x91
        else:
            digits, toa = number, 0xA1
        return bytes((len(digits), toa)) + encode_semi_octets(digits)
    septets = gsm7_encode(number)
    # The length counts the semi-octets that carry bits (TS 23.040 9.1.2.5): 7 characters are 49
    # bits, 13 semi-octets; saying 14 would make the receiver read an eighth character '@'.
    return bytes(((len(septets) * 7 + 3) // 4, 0xD0)) + pack_septets(septets)


def decode_address(data, pos):
    """-> (number or None, next position). Raises PduError on an impossible field."""
    _need(data, pos, 2, "address")
    n = data[pos]
    toa = data[pos + 1]
    if n > MAX_DIGITS:
        raise PduError("address of %d digits is longer than %d" % (n, MAX_DIGITS))
    octets = (n + 1) // 2
    _need(data, pos + 2, octets, "address digits")
    raw = data[pos + 2: pos + 2 + octets]
    if (toa & 0x70) == 0x50:
        number = gsm7_decode(unpack_septets(raw, n * 4 // 7))
    else:
        number = decode_semi_octets(raw, n)
        if (toa & 0x70) == 0x10 and number:
            number = "+" + number
    return (number or None), pos + 2 + octets


def encode_smsc(number):
    if not number:
        return b"\x00"
    if number.startswith("+"):
        digits, toa = number[1:], 0x91
    else:
        digits, toa = number, 0xA1
    body = encode_semi_octets(digits)
    return bytes((len(body) + 1, toa)) + body


def decode_smsc(data):
    """-> (number or None, length of the SMSC field in octets)."""
    _need(data, 0, 1, "SMSC length")
    n = data[0]
    if n == 0:
        return None, 1
    if n > MAX_SMSC_OCTETS:
        raise PduError("SMSC field of %d octets is longer than %d" % (n, MAX_SMSC_OCTETS))
    _need(data, 1, n, "SMSC")
    toa = data[1]
    number = decode_semi_octets(data[2: 1 + n])
    if (toa & 0x70) == 0x10 and number:
        number = "+" + number
    return (number or None), 1 + n


def _bcd(b, what):
    lo, hi = b & 0x0F, b >> 4
    if lo > 9 or hi > 9:
        raise PduError("%s octet %02X is not decimal" % (what, b))
    return lo * 10 + hi


def decode_timestamp(raw):
    """7 SCTS octets -> (y, mo, d, h, mi, s, tz_quarters). Raises PduError on a date that
    cannot exist."""
    if len(raw) < 7:
        raise PduError("timestamp has %d of 7 octets" % len(raw))
    y = _bcd(raw[0], "year")
    mo = _bcd(raw[1], "month")
    d = _bcd(raw[2], "day")
    h = _bcd(raw[3], "hour")
    mi = _bcd(raw[4], "minute")
    s = _bcd(raw[5], "second")
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 60):
        raise PduError("timestamp %02d-%02d-%02d %02d:%02d:%02d is not a date" % (y, mo, d, h, mi, s))
    tz = raw[6]
    neg = tz & 0x08
    tens, units = tz & 0x07, tz >> 4
    if units > 9:
        # Seen on real modems (reported to python-gsmmodem from an Indonesian SIM): a hex digit in the zone;
        # read it as a carry into the tens, the way the sender's BCD adder would have.
        units -= 10
        tens += 1
    q = tens * 10 + units
    year = 2000 + y if y < 70 else 1900 + y  # SCTS has two digits; GSM is younger than 1970
    return (year, mo, d, h, mi, s, -q if neg else q)


def encode_timestamp(t):
    y, mo, d, h, mi, s, q = t
    out = bytearray()
    for v in (y % 100, mo, d, h, mi, s):
        out.append(((v % 10) << 4) | (v // 10))
    a = abs(q)
    tz = ((a % 10) << 4) | (a // 10)
    if q < 0:
        tz |= 0x08
    out.append(tz)
    return bytes(out)


def unix_seconds(t):
    """Time tuple (local time at the SMSC and its zone) -> Unix seconds (UTC)."""
    y, mo, d, h, mi, s, q = t
    return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - q * 900


def from_unix(ts, tz_quarters=0):
    ts = int(ts) + tz_quarters * 900
    days, rem = divmod(ts, 86400)
    z = days + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400 + (m <= 2)
    return (y, m, d, rem // 3600, rem % 3600 // 60, rem % 60, tz_quarters)


def iso(t):
    """Time tuple -> '2013-03-08T15:02:16+02:00' (zone kept as the SMSC sent it)."""
    y, mo, d, h, mi, s, q = t
    sign = "-" if q < 0 else "+"
    m = abs(q) * 15
    return "%04d-%02d-%02dT%02d:%02d:%02d%s%02d:%02d" % (y, mo, d, h, mi, s, sign, m // 60, m % 60)


def encode_relative_validity(seconds):
    if seconds <= 12 * 3600:
        return max(0, seconds // 300 - 1)
    if seconds <= 24 * 3600:
        return (seconds - 12 * 3600) // 1800 + 143
    days = seconds // 86400
    if days <= 30:
        return days + 166
    return min(255, days // 7 + 192)


def decode_relative_validity(vp):
    if vp <= 143:
        return (vp + 1) * 300
    if vp <= 167:
        return 12 * 3600 + (vp - 143) * 1800
    if vp <= 196:
        return (vp - 166) * 86400
    return (vp - 192) * 7 * 86400


# --- user data header -------------------------------------------------------------------------

def decode_udh(raw):
    """-> list of (iei, bytes). A malformed element list ends the parse (kept so far): the text
    after the header is still readable, and gammu reads such messages too."""
    ies = []
    i = 0
    while i + 2 <= len(raw):
        iei, n = raw[i], raw[i + 1]
        if i + 2 + n > len(raw):
            break
        ies.append((iei, bytes(raw[i + 2: i + 2 + n])))
        i += 2 + n
    return ies


def concat_info(ies):
    """(reference, total, part) from an 8-bit (IEI 0) or 16-bit (IEI 8) concatenation element."""
    for iei, v in ies:
        if iei == 0x00 and len(v) == 3:
            return (v[0], v[1], v[2])
        if iei == 0x08 and len(v) == 4:
            return ((v[0] << 8) | v[1], v[2], v[3])
    return None


def port_info(ies):
    for iei, v in ies:
        if iei == 0x05 and len(v) == 4:
            return ((v[0] << 8) | v[1], (v[2] << 8) | v[3])
        if iei == 0x04 and len(v) == 2:
            return (v[0], v[1])
    return None


def concat_ie(reference, total, part):
    if reference > 0xFF:
        return bytes((0x08, 4, reference >> 8, reference & 0xFF, total, part))
    return bytes((0x00, 3, reference, total, part))


# --- data coding scheme -------------------------------------------------------------------------

def _alphabet(dcs):
    """-> ('gsm7' | '8bit' | 'ucs2', compressed, message_class or None)."""
    group = dcs >> 4
    if group <= 0x7:  # general data coding (with or without automatic deletion)
        alpha = (dcs >> 2) & 3
        cls = dcs & 3 if dcs & 0x10 else None
        return (("gsm7", "8bit", "ucs2", "gsm7")[alpha], bool(dcs & 0x20), cls)
    if group == 0xF:
        return (("8bit" if dcs & 0x04 else "gsm7"), False, dcs & 3)
    if group == 0xE:
        return ("ucs2", False, None)
    return ("gsm7", False, None)  # message waiting groups and reserved values: GSM-7


def _need(data, pos, n, what):
    if pos + n > len(data):
        raise PduError("PDU ends inside the %s" % what)


# --- decoding ----------------------------------------------------------------------------------

def to_bytes(pdu):
    if isinstance(pdu, (bytes, bytearray)):
        return bytes(pdu)
    s = pdu.strip().strip('"').strip()
    if not s:
        raise PduError("empty PDU")
    if len(s) & 1:
        raise PduError("PDU has an odd number (%d) of hex digits" % len(s))
    try:
        return unhexlify(s)
    except Exception:
        raise PduError("PDU is not hexadecimal")


def decode(pdu, with_smsc=True):
    """Hex text (as in +CMGR/+CMGL) or bytes -> message dict. Keys: type, smsc, number, text,
    time (tuple) and per type: reference, validity, status, discharge, udh, concat, ports, data,
    pid, dcs, tpdu_length. Raises PduError."""
    data = to_bytes(pdu)
    if with_smsc:
        smsc, pos = decode_smsc(data)
    else:
        smsc, pos = None, 0
    _need(data, pos, 1, "first octet")
    fo = data[pos]
    mti = fo & 3
    msg = {"smsc": smsc, "tpdu_length": len(data) - pos, "udh": [], "concat": None, "ports": None}
    pos += 1
    if mti == 0:
        msg["type"] = DELIVER
        msg["number"], pos = decode_address(data, pos)
        _need(data, pos, 9, "PID, DCS and timestamp")
        msg["pid"], msg["dcs"] = data[pos], data[pos + 1]
        msg["time"] = decode_timestamp(data[pos + 2: pos + 9])
        pos += 9
        _user_data(msg, data, pos, fo)
    elif mti == 1:
        msg["type"] = SUBMIT
        _need(data, pos, 1, "message reference")
        msg["reference"] = data[pos]
        msg["number"], pos = decode_address(data, pos + 1)
        _need(data, pos, 2, "PID and DCS")
        msg["pid"], msg["dcs"] = data[pos], data[pos + 1]
        pos += 2
        vpf = (fo >> 3) & 3
        msg["validity"] = None
        if vpf == 2:
            _need(data, pos, 1, "validity period")
            msg["validity"] = decode_relative_validity(data[pos])
            pos += 1
        elif vpf == 3:
            _need(data, pos, 7, "validity period")
            msg["validity"] = decode_timestamp(data[pos: pos + 7])
            pos += 7
        elif vpf == 1:
            pos += 7  # enhanced format: 7 octets we have no use for
        _user_data(msg, data, pos, fo)
    elif mti == 2:
        msg["type"] = STATUS_REPORT
        _need(data, pos, 1, "message reference")
        msg["reference"] = data[pos]
        msg["number"], pos = decode_address(data, pos + 1)
        _need(data, pos, 15, "timestamps and status")
        msg["time"] = decode_timestamp(data[pos: pos + 7])
        msg["discharge"] = decode_timestamp(data[pos + 7: pos + 14])
        msg["status"] = data[pos + 14]
        msg["delivered"] = data[pos + 14] < 0x20  # TS 23.040 9.2.3.15: 0x00-0x1F = completed
        msg["text"] = ""
    else:
        raise PduError("first octet %02X is not a known message type (TP-MTI 3 is reserved)" % fo)
    return msg


def _user_data(msg, data, pos, fo):
    _need(data, pos, 1, "user data length")
    udl = data[pos]
    ud = data[pos + 1:]
    alpha, compressed, cls = _alphabet(msg["dcs"])
    msg["encoding"] = alpha
    msg["message_class"] = cls
    if compressed:
        raise PduError("compressed user data (DCS %02X) is not supported" % msg["dcs"])
    udh_len = 0
    if fo & 0x40 and udl > 0:
        _need(ud, 0, 1, "user data header length")
        udh_len = ud[0] + 1
        _need(ud, 0, udh_len, "user data header")
        msg["udh"] = decode_udh(ud[1:udh_len])
        msg["concat"] = concat_info(msg["udh"])
        msg["ports"] = port_info(msg["udh"])
    if alpha == "gsm7":
        hdr_septets = (udh_len * 8 + 6) // 7
        n = udl - hdr_septets
        if n < 0:
            raise PduError("user data header is longer than the user data")
        fill = hdr_septets * 7 - udh_len * 8
        septets = unpack_septets(ud[udh_len:], n, fill)
        # A modem that cut the stored PDU short (gammu at-sms/41) still gave us the start of the
        # text: keep it, and say so.
        msg["truncated"] = len(septets) < n
        msg["text"] = gsm7_decode(septets)
    else:
        # TS 23.040: for 8-bit and UCS-2 the length counts octets. Some senders overstate it
        # (python-gsmmodem's "はい" vector), so read what is there and never past the end.
        body = ud[udh_len: udl]
        if alpha == "ucs2":
            msg["text"] = ucs2_decode(body)
        else:
            msg["data"] = bytes(body)
            msg["text"] = "".join([chr(b) for b in body])


# --- encoding ----------------------------------------------------------------------------------

def _split(text, ucs2):
    """Split text into parts that each fit one concatenated SMS; an escape pair never straddles."""
    parts = []
    if ucs2:
        units = []
        for ch in text:
            units.append((ch, 2 if ord(ch) > 0xFFFF else 1))
        limit = UCS2_PART
    else:
        units = [(ch, len(_ENC[ch])) for ch in text]
        limit = GSM7_PART
    cur, size = [], 0
    for ch, n in units:
        if size + n > limit:
            parts.append("".join(cur))
            cur, size = [], 0
        cur.append(ch)
        size += n
    if cur:
        parts.append("".join(cur))
    return parts


def encode_submit(number, text, reference=0, validity=None, smsc=None, status_report=False,
                  reject_duplicates=False, flash=False, concat_ref=None):
    """-> list of (pdu_hex, tpdu_length), one per part, for AT+CMGS in PDU mode. validity: int
    seconds (relative) or a time tuple (absolute). GSM-7 when the text fits, else UCS-2; long
    texts become concatenated parts sharing concat_ref (default: reference)."""
    ucs2 = not gsm7_fits(text)
    if ucs2:
        single = len(ucs2_encode(text)) // 2 <= UCS2_SINGLE
    else:
        single = septet_length(text) <= GSM7_SINGLE
    chunks = [text] if single else _split(text, ucs2)
    if len(chunks) > 255:
        raise ValueError("text needs %d parts, more than 255" % len(chunks))
    fo = 0x01
    vp = b""
    if validity is not None:
        if type(validity) is int:
            fo |= 0x10
            vp = bytes((encode_relative_validity(validity),))
        else:
            fo |= 0x18
            vp = encode_timestamp(validity)
    if reject_duplicates:
        fo |= 0x04
    if status_report:
        fo |= 0x20
    if len(chunks) > 1:
        fo |= 0x40
    dcs = 0x08 if ucs2 else 0x00
    if flash:
        dcs |= 0x10
    cref = (reference if concat_ref is None else concat_ref) & 0xFFFF
    head_smsc = encode_smsc(smsc)
    out = []
    for i, chunk in enumerate(chunks):
        udh = b""
        if len(chunks) > 1:
            ie = concat_ie(cref, len(chunks), i + 1)
            udh = bytes((len(ie),)) + ie
        ud, udl = _encode_ud(chunk, ucs2, udh)
        tpdu = bytes((fo, reference & 0xFF)) + encode_address(number) + bytes((0, dcs)) + vp + bytes((udl,)) + ud
        out.append((hexlify(head_smsc + tpdu).decode().upper(), len(tpdu)))
    return out


def _encode_ud(text, ucs2, udh):
    if ucs2:
        body = udh + ucs2_encode(text)
        return body, len(body)
    septets = gsm7_encode(text)
    if not udh:
        return pack_septets(septets), len(septets)
    hdr_septets = (len(udh) * 8 + 6) // 7
    fill = hdr_septets * 7 - len(udh) * 8
    return udh + pack_septets(septets, fill), hdr_septets + len(septets)


def encode_deliver(sender, text, scts, smsc=None, udh=b"", more=False, status_report=False):
    """One SMS-DELIVER PDU (hex, with the SMSC field) as a network hands it to a modem; used by the
    modem simulator. udh: complete header including its length octet."""
    ucs2 = not gsm7_fits(text)
    fo = 0x00 if more else 0x04  # TP-MMS: 0 = more messages are waiting
    if udh:
        fo |= 0x40
    if status_report:
        fo |= 0x20
    ud, udl = _encode_ud(text, ucs2, udh)
    tpdu = (bytes((fo,)) + encode_address(sender) + bytes((0, 0x08 if ucs2 else 0x00))
            + encode_timestamp(scts) + bytes((udl,)) + ud)
    return hexlify(encode_smsc(smsc) + tpdu).decode().upper(), len(tpdu)


def encode_deliver_parts(sender, text, scts, concat_ref, smsc=None):
    """A long text as the network delivers it: one DELIVER PDU per part, with concatenation."""
    ucs2 = not gsm7_fits(text)
    single = (len(ucs2_encode(text)) // 2 <= UCS2_SINGLE) if ucs2 else septet_length(text) <= GSM7_SINGLE
    if single:
        return [encode_deliver(sender, text, scts, smsc)]
    chunks = _split(text, ucs2)
    out = []
    for i, chunk in enumerate(chunks):
        ie = concat_ie(concat_ref, len(chunks), i + 1)
        out.append(encode_deliver(sender, chunk, scts, smsc, bytes((len(ie),)) + ie))
    return out


# --- reassembly --------------------------------------------------------------------------------

class Reassembly:
    """Joins the parts of concatenated SMS. add(msg, now) returns the whole message (a dict with the
    joined text and the first part's fields) once every part is in, else None. Bounded: at most
    max_groups incomplete messages, each forgotten after max_age_s."""

    def __init__(self, max_groups=32, max_age_s=3600):
        self.max_groups = max_groups
        self.max_age_s = max_age_s
        self.groups = {}

    def add(self, msg, now=0):
        c = msg.get("concat")
        if not c:
            return msg
        ref, total, part = c
        if total < 1 or part < 1 or part > total:
            raise PduError("concatenation part %d of %d is impossible" % (part, total))
        if total == 1:
            return msg
        self.expire(now)
        key = (msg.get("number"), ref, total)
        g = self.groups.get(key)
        if g is None:
            if len(self.groups) >= self.max_groups:
                oldest = None
                for k in self.groups:
                    if oldest is None or self.groups[k][0] < self.groups[oldest][0]:
                        oldest = k
                del self.groups[oldest]
            g = (now, {})
            self.groups[key] = g
        g[1][part] = msg
        if len(g[1]) < total:
            return None
        del self.groups[key]
        parts = g[1]
        whole = dict(parts[1])
        whole["text"] = "".join([parts[i]["text"] for i in range(1, total + 1)])
        whole["parts"] = total
        whole["indices"] = [parts[i].get("index") for i in range(1, total + 1)]
        return whole

    def expire(self, now):
        for k in list(self.groups.keys()):
            if now - self.groups[k][0] > self.max_age_s:
                del self.groups[k]

    def pending(self):
        return len(self.groups)
