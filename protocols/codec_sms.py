# Compact text codec for an SOS by SMS: one 160-character GSM-7 message, signed.
#
#   SG1;A;<dev>;<boot>;<seq>;<ts>;<cat>;<trig>;<presses>;<lat>;<lon>;<src>;<acc>;<age>;<mac>
#
# One letter for each enum (cat P F M S D U, trig B T S C, src G F C W N); an empty field is
# null. <mac> is the first 8 bytes (16 hex digits) of HMAC-SHA256(device key, everything before
# ";<mac>"). Only characters of the GSM-7 basic set are used, so no operator re-encodes it.
from binascii import hexlify, unhexlify

from protocols import MAJOR
from protocols.hmac256 import hmac_sha256, equal
from protocols.codec_json import validate
from protocols.rejection import (
    Rejection, TRUNCATED, OVERSIZE, BAD_FORMAT, BAD_HMAC, UNKNOWN_VERSION, UNKNOWN_DEVICE, STALE, WRONG_TYPE,
)

PREFIX = "SG"
MAC_BYTES = 8
MAX_LEN = 160
MAX_SKEW_S = 7 * 86400  # an SMS can sit in a network queue; a week-old one is not an emergency we can act on

_CAT = (("police", "P"), ("fire", "F"), ("medical", "M"), ("sar", "S"), ("disaster", "D"), ("unknown", "U"))
_TRIG = (("button", "B"), ("tamper", "T"), ("stuck", "S"), ("crew", "C"))
_SRC = (("gps", "G"), ("fixed", "F"), ("cell", "C"), ("wifi", "W"), ("none", "N"))


def _letter(table, value):
    for name, letter in table:
        if name == value:
            return letter
    raise ValueError(value)


def _name(table, letter):
    for name, l in table:
        if l == letter:
            return name
    return None


def _opt(v):
    return "" if v is None else str(v)


def mac(key, body):
    return hexlify(hmac_sha256(key, body.encode("utf-8"))[:MAC_BYTES]).decode("ascii").upper()


def encode_alarm(alarm, key):
    """Alarm dict (as for the JSON codec) -> SMS text. Raises ValueError on a bad alarm."""
    clean = validate(alarm)
    if isinstance(clean, Rejection) or clean["t"] != "alarm":
        raise ValueError("not a valid alarm: %r" % (clean,))
    body = ";".join((
        PREFIX + str(MAJOR), "A", clean["dev"], str(clean["boot"]), str(clean["seq"]), str(clean["ts"]),
        _letter(_CAT, clean["cat"]), _letter(_TRIG, clean["trig"]), str(clean["presses"]),
        _opt(clean["lat"]), _opt(clean["lon"]), _letter(_SRC, clean["src"]), _opt(clean["acc"]),
        _opt(clean["age"]),
    ))
    text = body + ";" + mac(key, body)
    if len(text) > MAX_LEN:
        raise ValueError("SMS would be %d characters" % len(text))
    return text


def _int(s, name, nullable):
    if s == "":
        if nullable:
            return None
        raise KeyError(name)
    neg = s[0] == "-"
    digits = s[1:] if neg else s
    if not digits or len(digits) > 12:
        raise KeyError(name)
    for ch in digits:
        if ch not in "0123456789":
            raise KeyError(name)
    return -int(digits) if neg else int(digits)


def is_siaga_sms(text):
    return type(text) is str and text.startswith(PREFIX) and ";" in text[:6]


def decode_alarm(text, key_for, window_for=None, now=None):
    """SMS text -> alarm dict, or Rejection. key_for(device_id) gives the device's key (bytes) or
    None; window_for(device_id) gives its ReplayWindow (or None to skip replay checks); now (Unix
    seconds) bounds the alarm's own timestamp. Never raises."""
    try:
        return _decode(text, key_for, window_for, now)
    except MemoryError:
        raise  # the device's heap, not the SMS, is at fault
    except Exception as e:
        return Rejection(BAD_FORMAT, "undecodable SMS (%s)" % type(e).__name__)


def _decode(text, key_for, window_for, now):
    if type(text) is not str:
        return Rejection(WRONG_TYPE, "SMS text is not a string")
    text = text.strip()
    if len(text) > MAX_LEN:
        return Rejection(OVERSIZE, "SMS of %d characters is over %d" % (len(text), MAX_LEN))
    parts = text.split(";")
    if not parts[0].startswith(PREFIX):
        return Rejection(BAD_FORMAT, "not a Siaga SMS")
    if parts[0] != PREFIX + str(MAJOR):
        return Rejection(UNKNOWN_VERSION, "SMS version %r is not %d" % (parts[0][:8], MAJOR))
    if len(parts) < 15:
        return Rejection(TRUNCATED, "SMS has %d of 15 fields" % len(parts))
    if len(parts) > 15 or parts[1] != "A":
        return Rejection(BAD_FORMAT, "SMS is not a v%d alarm" % MAJOR)
    given = parts[14]
    if len(given) != 2 * MAC_BYTES:
        return Rejection(TRUNCATED, "SMS signature is %d hex digits, not %d" % (len(given), 2 * MAC_BYTES))
    dev = parts[2]
    key = key_for(dev)
    if key is None:
        return Rejection(UNKNOWN_DEVICE, "no key for device %s" % dev[:32])
    body = text[: len(text) - len(given) - 1]
    try:
        given_raw = unhexlify(given)
    except Exception:
        return Rejection(BAD_HMAC, "SMS signature is not hexadecimal")
    want = hmac_sha256(key, body.encode("utf-8"))[:MAC_BYTES]
    if not equal(want, given_raw):
        return Rejection(BAD_HMAC, "SMS signature does not match device %s" % dev)
    try:
        alarm = {
            "v": MAJOR, "t": "alarm", "dev": dev,
            "boot": _int(parts[3], "boot", False), "seq": _int(parts[4], "seq", False),
            "ts": _int(parts[5], "ts", False), "cat": _name(_CAT, parts[6]),
            "trig": _name(_TRIG, parts[7]), "presses": _int(parts[8], "presses", False),
            "lat": _int(parts[9], "lat", True), "lon": _int(parts[10], "lon", True),
            "src": _name(_SRC, parts[11]), "acc": _int(parts[12], "acc", True),
            "age": _int(parts[13], "age", True),
        }
    except KeyError as e:
        return Rejection(BAD_FORMAT, "SMS field %s is not a number" % e.args[0])
    if alarm["cat"] is None or alarm["trig"] is None or alarm["src"] is None:
        return Rejection(BAD_FORMAT, "SMS has an unknown category, trigger or source letter")
    alarm = validate(alarm)
    if isinstance(alarm, Rejection):
        return alarm
    if now is not None and (alarm["ts"] > now + 300 or alarm["ts"] < now - MAX_SKEW_S):
        return Rejection(STALE, "SMS alarm time %d is too far from now %d" % (alarm["ts"], now))
    if window_for is not None:
        window = window_for(dev)
        if window is not None:
            r = window.accept(alarm["boot"], alarm["seq"])
            if r is not None:
                return r
    return alarm
