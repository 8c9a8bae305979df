"""Advanced Mobile Location (ETSI TS 103 625, EENA AML): the location a phone sends by itself when
its user calls 112. Three carriers of the same facts:

  text SMS   A"ML=1;lt=+54.76397;lg=-0.18305;rd=50;top=20130717141935;lc=90;pm=W;si=...;ei=...;
             mcc=234;mnc=30;ml=128      (v1; v2 uses lo=lat,lon,acc; et + lt time; ls method)
  data SMS   the same text, GSM-7 packed in an 8-bit data SMS (Android)
  HTTPS      form-encoded v=1&location_latitude=...&location_longitude=... (optional HMAC-SHA1)

parse*() return a location dict or a protocols.rejection.Rejection with a sentence; they never
raise. Coordinates become integer microdegrees (the wire protocol's unit) by exact decimal
conversion, not through float. IMSI and IMEI stay in the dict for the incident record but
log_fields() never includes them."""
from __future__ import annotations

import calendar
import hashlib
import hmac
import re
from urllib.parse import parse_qsl

from protocols.sms import pdu as sms_pdu
from protocols.rejection import BAD_FORMAT, BAD_HMAC, BAD_VALUE, OUT_OF_RANGE, Rejection, UNKNOWN_VERSION

HEADERS = ('A"ML=', "AML=")  # A"ML is how GSM-7 renders the header on many handsets; both seen
METHODS = {"G": "gnss", "W": "wifi", "C": "cell", "N": "none", "F": "fused", "U": "unknown"}
V1_KEYS = ("lt", "lg", "rd", "top", "lc", "pm", "si", "ei", "mcc", "mnc", "ml")
V2_KEYS = ("en", "et", "lo", "lt", "lc", "lz", "ls", "ei", "si", "nc", "hc", "lg", "ml")
_DEC = re.compile(r"^[+-]?\d{1,3}(\.\d{1,9})?$")
_DIGITS = re.compile(r"^\d{1,20}$")
MAX_LEN = 640  # a few concatenated parts; AML fits in one


def is_aml(text) -> bool:
    return isinstance(text, str) and text.startswith(HEADERS)


def to_micro(s: str) -> int | None:
    """'+54.76397' -> 54763970 exactly (decimal digits, no float); None when not a decimal."""
    if not isinstance(s, str) or not _DEC.match(s):
        return None
    neg = s.startswith("-")
    s = s.lstrip("+-")
    whole, _, frac = s.partition(".")
    frac = (frac + "000000")[:7]
    micro = int(whole) * 1_000_000 + int(frac[:6]) + (1 if int(frac[6]) >= 5 else 0)
    return -micro if neg else micro


def _number(s: str) -> float | None:
    try:
        v = float(s)
    except ValueError:
        return None
    return v if v == v and abs(v) < 1e9 else None


def _location(lat, lon, radius, method) -> dict:
    has = lat is not None and lon is not None and method != "none" and radius is not None
    return {"lat": lat if has else None, "lon": lon if has else None, "has_location": has,
            "radius_m": radius if has else None}


def parse(text) -> dict | Rejection:
    """An AML text SMS -> location dict or Rejection."""
    try:
        return _parse(text)
    except Exception as e:  # a parser bug must not take the gateway down; say what happened
        return Rejection(BAD_FORMAT, "AML SMS could not be read (%s)" % type(e).__name__)


def _parse(text) -> dict | Rejection:
    if not isinstance(text, str):
        return Rejection(BAD_FORMAT, "AML message is not text")
    if len(text) > MAX_LEN:
        return Rejection(BAD_FORMAT, "AML SMS of %d characters is too long" % len(text))
    if not is_aml(text):
        return Rejection(BAD_FORMAT, 'AML SMS does not start with the A"ML= header')
    parts = text.split(";")
    version = parts[0].split("=", 1)[1]
    if version not in ("1", "2"):
        return Rejection(UNKNOWN_VERSION, "AML version %r is not 1 or 2" % version[:8])
    allowed = V1_KEYS if version == "1" else V2_KEYS
    attrs: dict[str, str] = {}
    for p in parts[1:]:
        if p == "":
            return Rejection(BAD_FORMAT, "AML SMS has an empty attribute (';;')")
        if p.count("=") != 1 or p.startswith("=") :
            return Rejection(BAD_FORMAT, "AML attribute %r is not key=value" % p[:20])
        k, v = p.split("=")
        if k not in allowed:
            return Rejection(BAD_FORMAT, "AML attribute %r is not defined for version %s" % (k[:12], version))
        if k in attrs:
            return Rejection(BAD_FORMAT, "AML attribute %r appears twice" % k)
        attrs[k] = v
    if "ml" in attrs:
        if not _DIGITS.match(attrs["ml"]):
            return Rejection(BAD_VALUE, "AML ml=%r is not a length" % attrs["ml"][:8])
        if int(attrs["ml"]) != len(text):
            return Rejection(BAD_VALUE, "AML ml says %s characters but the SMS has %d (cut or altered)"
                             % (attrs["ml"], len(text)))
    return _v1(attrs) if version == "1" else _v2(attrs)


def _ids(attrs: dict, out: dict) -> Rejection | None:
    for key, name in (("si", "imsi"), ("ei", "imei")):
        v = attrs.get(key)
        if v is not None and not _DIGITS.match(v):
            return Rejection(BAD_VALUE, "AML %s is not digits" % name.upper())
        out[name] = v
    return None


def _v1(a: dict) -> dict | Rejection:
    out: dict = {"version": 1}
    lat = lon = None
    if "lt" in a:
        lat = to_micro(a["lt"])
        if lat is None:
            return Rejection(BAD_VALUE, "AML latitude %r is not a decimal number" % a["lt"][:16])
        if abs(lat) > 90_000_000:
            return Rejection(OUT_OF_RANGE, "AML latitude %s is outside -90..90" % a["lt"][:16])
    if "lg" in a:
        lon = to_micro(a["lg"])
        if lon is None:
            return Rejection(BAD_VALUE, "AML longitude %r is not a decimal number" % a["lg"][:16])
        if abs(lon) > 180_000_000:
            return Rejection(OUT_OF_RANGE, "AML longitude %s is outside -180..180" % a["lg"][:16])
    radius = None
    if "rd" in a and a["rd"] != "N":
        r = _number(a["rd"])
        if r is None or r < 0:
            return Rejection(BAD_VALUE, "AML radius %r is not metres or N" % a["rd"][:12])
        radius = r
    t = None
    if "top" in a:
        t = _top(a["top"])
        if t is None:
            return Rejection(BAD_VALUE, "AML time of positioning %r is not YYYYMMDDhhmmss" % a["top"][:20])
    conf = None
    if "lc" in a:
        if not _DIGITS.match(a["lc"]) or int(a["lc"]) > 100:
            return Rejection(BAD_VALUE, "AML level of confidence %r is not a whole percentage" % a["lc"][:8])
        conf = int(a["lc"])
    method = None
    if "pm" in a:
        if a["pm"] not in ("G", "W", "C", "N"):
            return Rejection(BAD_VALUE, "AML positioning method %r is not one of G, W, C, N" % a["pm"][:4])
        method = METHODS[a["pm"]]
    for k in ("mcc", "mnc"):
        if k in a and not _DIGITS.match(a[k]):
            return Rejection(BAD_VALUE, "AML %s %r is not digits" % (k, a[k][:8]))
        out[k] = a.get(k)
    bad = _ids(a, out)
    if bad:
        return bad
    out.update(_location(lat, lon, radius, method))
    out.update({"time": t, "confidence_pct": conf, "method": method, "emergency_number": None})
    return out


def _v2(a: dict) -> dict | Rejection:
    out: dict = {"version": 2}
    lat = lon = radius = None
    if "lo" in a:
        f = a["lo"].split(",")
        if len(f) != 3:
            return Rejection(BAD_FORMAT, "AML v2 lo must be lat,lon,accuracy")
        lat, lon, radius = to_micro(f[0]), to_micro(f[1]), _number(f[2])
        if lat is None or lon is None or radius is None or abs(lat) > 90_000_000 or abs(lon) > 180_000_000:
            return Rejection(BAD_VALUE, "AML v2 location %r is not lat,lon,accuracy in range" % a["lo"][:40])
    t = None
    if "et" in a:
        if not _DIGITS.match(a["et"]):
            return Rejection(BAD_VALUE, "AML v2 et is not Unix seconds")
        t = int(a["et"])
        if "lt" in a:
            off = a["lt"].lstrip("-")
            if not _DIGITS.match(off):
                return Rejection(BAD_VALUE, "AML v2 lt is not a whole number of seconds")
            t += int(a["lt"])
    conf = None
    if "lc" in a:
        if not _DIGITS.match(a["lc"]) or int(a["lc"]) > 100:
            return Rejection(BAD_VALUE, "AML level of confidence %r is not a whole percentage" % a["lc"][:8])
        conf = int(a["lc"])
    method = None
    if "ls" in a:
        if a["ls"] not in METHODS or a["ls"] == "N":
            return Rejection(BAD_VALUE, "AML v2 location source %r is not one of G, W, C, F, U" % a["ls"][:4])
        method = METHODS[a["ls"]]
    if "lz" in a:
        f = a["lz"].split(",")
        alt = _number(f[0]) if f else None
        out["altitude_dm"] = None if alt is None else round(alt * 10)
        out["vertical_accuracy_m"] = _number(f[1]) if len(f) > 1 else None
    out["mcc"] = a.get("nc", "")[:3] or None
    out["mnc"] = a.get("nc", "")[3:] or None
    out["home_mcc_mnc"] = a.get("hc")
    out["language"] = a.get("lg")
    bad = _ids(a, out)
    if bad:
        return bad
    out.update(_location(lat, lon, radius, method))
    out.update({"time": t, "confidence_pct": conf, "method": method, "emergency_number": a.get("en")})
    return out


def _top(s: str) -> int | None:
    if len(s) != 14 or not s.isdigit():
        return None
    y, mo, d, h, mi, se = int(s[:4]), int(s[4:6]), int(s[6:8]), int(s[8:10]), int(s[10:12]), int(s[12:14])
    if not (2000 <= y <= 2100 and 1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and se < 60):
        return None
    try:
        return calendar.timegm((y, mo, d, h, mi, se, 0, 0, 0))
    except (ValueError, OverflowError):
        return None


def parse_data_sms(payload: bytes) -> dict | Rejection:
    """The 8-bit data SMS Android sends: the AML text, GSM-7 packed."""
    if not isinstance(payload, (bytes, bytearray)) or not payload or len(payload) > 140 * 5:
        return Rejection(BAD_FORMAT, "AML data SMS payload is empty or too long")
    text = sms_pdu.gsm7_decode(sms_pdu.unpack_septets(payload, len(payload) * 8 // 7))
    # Packing leaves up to 7 spare bits: a trailing '@' (septet 0) is padding, not text.
    if "ml=" in text:
        head, _, tail = text.rpartition("ml=")
        digits = ""
        for ch in tail:
            if not ch.isdigit():
                break
            digits += ch
        text = head + "ml=" + digits
    return parse(text)


def parse_https(body: str, key: bytes | None = None) -> dict | Rejection:
    """HTTPS AML (form-encoded). With key, the trailing &hmac= (hex HMAC-SHA1 of everything before
    it) must match."""
    try:
        if key is not None:
            head, sep, mac = body.rpartition("&hmac=")
            if not sep:
                return Rejection(BAD_HMAC, "HTTPS AML has no hmac")
            want = hmac.new(key, head.encode(), hashlib.sha1).hexdigest()
            if not hmac.compare_digest(want, mac.strip().lower()):
                return Rejection(BAD_HMAC, "HTTPS AML hmac does not match")
        f = dict(parse_qsl(body, keep_blank_values=True))
        if f.get("v") != "1":
            return Rejection(UNKNOWN_VERSION, "HTTPS AML version %r is not 1" % f.get("v", "")[:8])
        lat, lon = to_micro(f.get("location_latitude", "")), to_micro(f.get("location_longitude", ""))
        if lat is None or lon is None:
            return Rejection(BAD_VALUE, "HTTPS AML has no decimal latitude/longitude")
        acc = _number(f.get("location_accuracy", ""))
        t_ms = f.get("location_time", "")
        src = f.get("location_source", "").lower()
        out = {"version": 1, "time": int(t_ms) // 1000 if t_ms.isdigit() else None, "time_ms": int(t_ms) if t_ms.isdigit() else None,
               "confidence_pct": int(f["location_certainty"]) if f.get("location_certainty", "").isdigit() else None,
               "method": {"gps": "gnss", "wifi": "wifi", "cell": "cell"}.get(src, src or None),
               "floor": int(f["location_floor"]) if f.get("location_floor", "").lstrip("-").isdigit() else None,
               "emergency_number": None, "phone": f.get("device_number"), "imei": f.get("device_imei"),
               "imsi": f.get("device_imsi"), "mcc": f.get("cell_network_mcc"), "mnc": f.get("cell_network_mnc")}
        out.update(_location(lat, lon, acc, out["method"]))
        return out
    except Exception as e:
        return Rejection(BAD_FORMAT, "HTTPS AML could not be read (%s)" % type(e).__name__)


def log_fields(loc: dict) -> dict:
    """What may be logged about a location: never the IMSI, IMEI or phone number."""
    return {k: loc.get(k) for k in ("version", "lat", "lon", "radius_m", "method", "confidence_pct", "time", "mcc", "mnc")}
