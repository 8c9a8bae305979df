# Pure parsers for AT response lines (3GPP TS 27.007 / 27.005 and SIMCom dialects). Each takes the
# text the modem sent and returns plain values, or None when the line is not what it claims to be:
# real modems send unquoted, hex, empty and half-quoted fields (see ../shared/data/gsm), and a
# parser that raised on them would take the whole driver down.
from protocols.sms import pdu as sms_pdu

REG_STAT = ("not_registered", "home", "searching", "denied", "unknown", "roaming")


def fields(text):
    """Split 'a,"b,c",,d' into ['a', 'b,c', '', 'd'], keeping which ones were quoted: returns a list
    of (value, quoted). An unterminated quote runs to the end of the line (gammu's fallback)."""
    out = []
    i = 0
    n = len(text)
    while i <= n:
        while i < n and text[i] == " ":
            i += 1
        if i < n and text[i] == '"':
            j = text.find('"', i + 1)
            if j < 0:
                out.append((text[i + 1:], True))
                return out
            out.append((text[i + 1: j], True))
            i = j + 1
            while i < n and text[i] == " ":
                i += 1
            if i < n and text[i] != ",":
                return None  # text after a closing quote: the quotes do not pair up
            i += 1
        else:
            j = text.find(",", i)
            if j < 0:
                j = n
            tok = text[i:j].strip()
            if '"' in tok:
                return None
            out.append((tok, False))
            i = j + 1
    return out


def body(line, prefix):
    """'+CSQ: 18,99' -> '18,99' (also without the space, '+CSQ:4,0')."""
    if not line.startswith(prefix):
        return None
    return line[len(prefix):].strip()


def _int(s):
    s = s.strip()
    if not s:
        return None
    neg = s[0] == "-"
    d = s[1:] if neg else s
    for ch in d:
        if ch not in "0123456789":
            return None
    if not d:
        return None
    return -int(d) if neg else int(d)


def _hex(s):
    s = s.strip().upper()
    if s.startswith("0X"):
        s = s[2:]
    if not s:
        return None
    for ch in s:
        if ch not in "0123456789ABCDEF":
            return None
    return s


def _pad4(s):
    while len(s) < 4:
        s = "0" + s
    return s


def registration(line, urc=False):
    """+CREG/+CGREG/+CEREG. Read form: <n>,<stat>[,<lac>,<ci>[,<AcT>]]; URC form drops <n>.
    -> dict(n, stat, state, registered, roaming, lac, ci, act) or None."""
    c = line.find(":")
    if c < 0 or not line.startswith("+C") or line[1:c] not in ("CREG", "CGREG", "CEREG"):
        return None
    f = fields(line[c + 1:])
    if not f:
        return None
    vals = [v for v, _q in f]
    if not urc:
        n = _int(vals[0])
        if n is None or len(vals) < 2:
            return None
        rest = vals[1:]
    else:
        n = None
        rest = vals
    stat = _int(rest[0])
    if stat is None or stat < 0:
        return None
    out = {"n": n, "stat": stat, "state": REG_STAT[stat] if stat < len(REG_STAT) else "other",
           "registered": stat in (1, 5), "roaming": stat == 5, "lac": None, "ci": None, "act": None}
    if len(rest) >= 2:
        lac = rest[1]
        if lac:
            lac = _hex(lac)
            if lac is None or len(lac) > 8:
                return None
            lac = _pad4(lac)
        out["lac"] = lac
    if len(rest) >= 3:
        ci = _hex(rest[2]) if rest[2] else ""
        if ci is None:
            return None
        out["ci"] = ci
    if len(rest) >= 4:
        out["act"] = _int(rest[3])
    return out


def signal(line):
    """+CSQ: <rssi>,<ber> -> dict(rssi (-1 unknown), ber, dbm or None) or None."""
    b = body(line, "+CSQ:")
    if b is None:
        return None
    f = b.split(",")
    rssi = _int(f[0])
    if rssi is None:
        return None
    ber = _int(f[1]) if len(f) > 1 else None
    if rssi == 99 or rssi < 0 or rssi > 31:
        return {"rssi": -1, "ber": ber, "dbm": None}
    return {"rssi": rssi, "ber": ber, "dbm": -113 + 2 * rssi}


def operator(line):
    """+COPS: <mode>[,<format>,"<oper>"[,<AcT>]] -> operator name or None."""
    b = body(line, "+COPS:")
    if b is None:
        return None
    f = fields(b)
    if not f or len(f) < 3:
        return None
    return f[2][0] or None


def smsc(line):
    """+CSCA: "<sca>",<tosca> -> (number, toa). Some modems answer in UCS-2 hex (gammu at-smsc)."""
    b = body(line, "+CSCA:")
    if b is None:
        return None
    f = fields(b)
    if not f:
        return None
    num = f[0][0]
    toa = _int(f[1][0]) if len(f) > 1 else None
    if len(num) >= 8 and len(num) % 4 == 0 and _hex(num) == num.upper() and num.startswith("00"):
        try:
            num = sms_pdu.ucs2_decode(sms_pdu.to_bytes(num))
        except ValueError:
            return None
    if not num:
        return None
    return (num, toa)


def text_time(s):
    """'13/03/08,15:02:16+08' (zone in quarter hours) or Motorola's '2009/8/18,19:11:45' ->
    time tuple, or None."""
    s = s.strip()
    if "," not in s:
        return None
    date, clock = s.split(",", 1)
    q = 0
    for sign in "+-":
        k = clock.find(sign)
        if k > 0:
            q = _int(clock[k + 1:])
            if q is None:
                return None
            if sign == "-":
                q = -q
            clock = clock[:k]
            break
    d = date.split("/")
    t = clock.split(":")
    if len(d) != 3 or len(t) != 3:
        return None
    nums = [_int(x) for x in d + t]
    for v in nums:
        if v is None:
            return None
    y, mo, da, h, mi, se = nums
    if y < 100:
        y += 2000 if y < 70 else 1900
    if not (1 <= mo <= 12 and 1 <= da <= 31 and h < 24 and mi < 60 and se < 60):
        return None
    return (y, mo, da, h, mi, se, q)


_STAT_PDU = ("REC UNREAD", "REC READ", "STO UNSENT", "STO SENT", "ALL")


def stored_message(header, lines, pdu_mode, index=None):
    """One +CMGR/+CMGL entry: the header line and the lines after it -> message dict or None.
    PDU mode: header '+CMGR: <stat>,[<alpha>],<length>' then the PDU (raises PduError when the PDU is
    bad). Text mode: '+CMGR: "<stat>","<oa>",[<alpha>],"<scts>"[,...]' then the text; a text-mode
    status report is '+CMGR: <stat>,<fo>,<mr>,"<ra>",<tora>,"<scts>","<dt>",<st>'."""
    c = header.find(":")
    f = fields(header[c + 1:])
    if f is None:
        return None
    vals = [v for v, _q in f]
    if header.startswith("+CMGL"):
        index = _int(vals[0]) if vals else None
        vals = vals[1:]
    if pdu_mode:
        if not lines:
            return None
        msg = sms_pdu.decode(lines[0])
        st = _int(vals[0]) if vals else None
        msg["status"] = _STAT_PDU[st] if st is not None and 0 <= st < 4 else None
        msg["index"] = index
        return msg
    if len(vals) >= 8 and _int(vals[1]) is not None and f[1 + (1 if header.startswith("+CMGL") else 0)][1] is False:
        return {"type": sms_pdu.STATUS_REPORT, "index": index, "status": vals[0] or None,
                "first_octet": _int(vals[1]), "reference": _int(vals[2]), "number": vals[3] or None,
                "toa": _int(vals[4]), "time": text_time(vals[5]), "discharge": text_time(vals[6]),
                "delivery_status": _int(vals[7]), "delivered": (_int(vals[7]) or 0) < 0x20, "text": ""}
    msg = {"type": sms_pdu.DELIVER, "index": index, "status": vals[0] if vals else None,
           "number": vals[1] if len(vals) > 1 and vals[1] else None, "time": None, "smsc": None,
           "text": "\n".join(lines), "udh": [], "concat": None}
    if msg["status"] and msg["status"].startswith("STO"):
        msg["type"] = sms_pdu.SUBMIT
    for v in vals[2:]:
        t = text_time(v)
        if t is not None:
            msg["time"] = t
            break
    if len(vals) >= 10 and msg["time"] is not None:
        msg["smsc"] = vals[8] or None  # AT+CSDH=1 detail: <tooa>,<fo>,<pid>,<dcs>,<sca>,<tosca>,<length>
    return msg


def ussd(line):
    """+CUSD: <m>[,"<str>"[,<dcs>]] -> dict(m, text, dcs, session_active) or None. The text is
    decoded as UCS-2 when the dcs (or the look of it) says so, as packed GSM-7 hex for Huawei."""
    b = body(line, "+CUSD:")
    if b is None:
        return None
    f = fields(b)
    if not f:
        return None
    m = _int(f[0][0])
    if m is None:
        return None
    text = f[1][0] if len(f) > 1 else ""
    dcs = _int(f[2][0]) if len(f) > 2 else None
    text = _ussd_text(text, dcs)
    return {"m": m, "text": text, "dcs": dcs, "session_active": m == 1}


def _ussd_text(text, dcs):
    h = _hex(text)
    if h is None or len(h) < 8:
        return text
    if dcs == 72 or (len(h) % 4 == 0 and h.startswith("00")) or (dcs is not None and (dcs & 0x0C) == 0x08):
        try:
            return sms_pdu.ucs2_decode(sms_pdu.to_bytes(h))
        except ValueError:
            return text
    if dcs in (None, 15, 0) and len(h) % 2 == 0:
        raw = sms_pdu.to_bytes(h)
        return sms_pdu.gsm7_decode(sms_pdu.unpack_septets(raw, len(raw) * 8 // 7)).rstrip("\r@")
    return text


def cmti(line):
    """+CMTI: "<mem>",<index> (also +CDSI) -> (mem, index) or None."""
    c = line.find(":")
    f = fields(line[c + 1:])
    if not f or len(f) < 2:
        return None
    idx = _int(f[1][0])
    if idx is None:
        return None
    return (f[0][0], idx)


def numbers(line, prefix):
    """'+CMQTTCONNECT: 0,0' -> [0, 0]; None when a field is not an integer."""
    b = body(line, prefix)
    if b is None:
        return None
    out = []
    for v, _q in fields(b) or ():
        i = _int(v)
        if i is None:
            return None
        out.append(i)
    return out
