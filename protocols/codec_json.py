# The JSON codec: what goes over MQTT. encode() writes canonical bytes in the schema's field
# order; decode() returns a plain dict or a Rejection and never raises, whatever the bytes.
import sys

from protocols import MAJOR, topics, strictjson
from protocols.canonical import dump_object
from protocols.messages import FIELDS, CMD_NEEDS, CONFIG_KEYS, MAX_PAYLOAD, order
from protocols.rejection import (
    Rejection, TRUNCATED, OVERSIZE, NOT_UTF8, NOT_JSON, NOT_OBJECT, UNKNOWN_VERSION,
    UNKNOWN_TYPE, MISSING_FIELD, WRONG_TYPE, OUT_OF_RANGE, BAD_VALUE, IDENTITY_MISMATCH, BAD_TOPIC,
)

_ORDERS = {}
for _k in FIELDS:
    _ORDERS[_k] = order(_k)

# CPython fast path (the server's ingest): orjson parses, a compiled pattern checks text. Both
# only ever take the answer the portable code would give; MicroPython runs the portable code.
_fast_loads = None
_bad_text = None
if sys.implementation.name == "cpython":
    import re
    _bad_text = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]").search
    try:
        import orjson
        _fast_loads = orjson.loads
    except ImportError:
        pass


def _text_ok(s):
    if _bad_text is not None:
        return _bad_text(s) is None
    for ch in s:
        o = ord(ch)
        if o < 0x20 or o == 0x7F or 0xD800 <= o <= 0xDFFF:
            return False
    return True


def _loads(text):
    # orjson is strict like strictjson.loads but differs where it fails (1e400, a lone surrogate,
    # depth) and turns integers past 64 bits into floats. No field of ours is a float, so a float
    # or a failure sends the text to strictjson, whose result (and so rejection reason) stands.
    if _fast_loads is not None:
        try:
            msg = _fast_loads(text)
        except ValueError:
            return strictjson.loads(text)
        if type(msg) is dict:
            for v in msg.values():
                if type(v) is float:
                    return strictjson.loads(text)
        return msg
    return strictjson.loads(text)


def _check_field(spec, value):
    name, kind, _req, nullable, a, b = spec
    if value is None:
        if nullable:
            return None
        return Rejection(WRONG_TYPE, "field %s must not be null" % name)
    if kind == "int":
        if type(value) is not int:
            return Rejection(WRONG_TYPE, "field %s must be an integer" % name)
        if value < a or value > b:
            return Rejection(OUT_OF_RANGE, "field %s=%d is outside %d..%d" % (name, value, a, b))
    elif kind == "str":
        if type(value) is not str:
            return Rejection(WRONG_TYPE, "field %s must be a string" % name)
        if len(value) < a or len(value) > b:
            return Rejection(OUT_OF_RANGE, "field %s must have %d..%d characters" % (name, a, b))
        if not _text_ok(value):
            return Rejection(BAD_VALUE, "field %s holds control or invalid characters" % name)
    elif kind == "enum":
        if type(value) is not str:
            return Rejection(WRONG_TYPE, "field %s must be a string" % name)
        if value not in a:
            return Rejection(BAD_VALUE, "field %s=%r is not one of %s" % (name, value[:24], ", ".join(a)))
    elif kind == "bool":
        if value is not True and value is not False:
            return Rejection(WRONG_TYPE, "field %s must be true or false" % name)
    elif kind == "id":
        if not topics.valid_device_id(value):
            return Rejection(BAD_VALUE, "field %s is not a valid device id" % name)
    elif kind == "cfg":
        if type(value) is not dict:
            return Rejection(WRONG_TYPE, "field %s must be an object" % name)
        for k in value:
            if k not in CONFIG_KEYS:
                return Rejection(BAD_VALUE, "config key %r is not known" % (str(k)[:24],))
            v = value[k]
            if type(v) is not int or v < 0 or v > 86400000:
                return Rejection(OUT_OF_RANGE, "config %s must be an integer 0..86400000" % k)
    return None


def validate(msg):
    """Check a message dict against its schema. Returns the cleaned dict (known fields only) or a
    Rejection."""
    if type(msg) is not dict:
        return Rejection(NOT_OBJECT, "message is not a JSON object")
    if "v" not in msg:
        return Rejection(MISSING_FIELD, "field v (protocol version) is missing")
    if msg["v"] != MAJOR or type(msg["v"]) is not int:
        return Rejection(UNKNOWN_VERSION, "protocol version %r is not %d" % (str(msg["v"])[:16], MAJOR))
    kind = msg.get("t")
    if type(kind) is not str:
        return Rejection(MISSING_FIELD if kind is None else WRONG_TYPE, "field t (message type) is missing or not text")
    fields = FIELDS.get(kind)
    if fields is None:
        return Rejection(UNKNOWN_TYPE, "message type %r is not known" % kind[:16])
    out = {}
    for spec in fields:
        name = spec[0]
        if name not in msg:
            if spec[2]:
                return Rejection(MISSING_FIELD, "field %s is missing from %s" % (name, kind))
            continue
        r = _check_field(spec, msg[name])
        if r is not None:
            return r
        out[name] = msg[name]
    if kind == "cmd":
        for need in CMD_NEEDS[out["op"]]:
            if out.get(need) is None:
                return Rejection(MISSING_FIELD, "command %s needs field %s" % (out["op"], need))
        if out["exp"] < out["ts"]:
            return Rejection(BAD_VALUE, "command expires before it was issued")
    if kind == "alarm" and (out["lat"] is None) != (out["lon"] is None):
        return Rejection(BAD_VALUE, "alarm has only one of lat and lon")
    return out


def encode(msg):
    """Canonical bytes of a message. Raises ValueError for a message that breaks the schema:
    our own code must never put a bad message on the wire."""
    clean = validate(msg)
    if isinstance(clean, Rejection):
        raise ValueError(clean.code + ": " + clean.reason)
    return dump_object(clean, _ORDERS[clean["t"]]).encode("utf-8")


def decode(payload, topic=None):
    """bytes (or str) -> message dict, or Rejection. With a topic, also checks that the topic's
    device and type are the payload's: a device speaks only for itself."""
    try:
        return _decode(payload, topic)
    except MemoryError:
        # A starved heap is not a bad message: reporting it as one would drop a valid ack for good.
        raise
    except Exception as e:  # a decoder bug must still come out as a reason, never a crash
        return Rejection(BAD_VALUE, "undecodable message (%s)" % type(e).__name__)


def _decode(payload, topic):
    if type(payload) is str:
        text = payload
        size = len(payload.encode("utf-8"))
    else:
        size = len(payload)
        if size > MAX_PAYLOAD:
            return Rejection(OVERSIZE, "payload of %d bytes is over the %d-byte limit" % (size, MAX_PAYLOAD))
        try:
            text = bytes(payload).decode("utf-8")
        except Exception:
            return Rejection(NOT_UTF8, "payload is not UTF-8 text")
    if size > MAX_PAYLOAD:
        return Rejection(OVERSIZE, "payload of %d bytes is over the %d-byte limit" % (size, MAX_PAYLOAD))
    stripped = text.strip()
    if not stripped:
        return Rejection(TRUNCATED, "payload is empty")
    if stripped[0] == "{" and stripped[-1] != "}":
        return Rejection(TRUNCATED, "JSON object is cut short")
    if stripped[0] != "{":
        return Rejection(NOT_OBJECT, "payload is not a JSON object")
    try:
        msg = _loads(stripped)
    except MemoryError:
        raise
    except Exception:
        return Rejection(NOT_JSON, "payload is not valid JSON")
    msg = validate(msg)
    if isinstance(msg, Rejection) or topic is None:
        return msg
    where = topics.parse(topic)
    if isinstance(where, Rejection):
        return where
    direction, device_id, kind = where
    if direction == "server":
        return Rejection(BAD_TOPIC, "the server status topic carries no device message")
    if kind != msg["t"]:
        return Rejection(IDENTITY_MISMATCH, "topic says %s but payload is %s" % (kind, msg["t"]))
    if device_id != msg["dev"]:
        return Rejection(IDENTITY_MISMATCH, "topic device %s is not payload device %s" % (device_id, msg["dev"]))
    return msg


def server_status(state, epoch, ts):
    # The server's own birth/will on topics.SERVER_STATUS. Devices re-announce on a new epoch.
    return dump_object({"v": MAJOR, "t": "server", "state": state, "epoch": epoch, "ts": ts},
                       ("v", "t", "state", "epoch", "ts")).encode("utf-8")


def decode_server_status(payload):
    try:
        msg = strictjson.loads(bytes(payload).decode("utf-8"))
        if type(msg) is dict and msg.get("t") == "server" and msg.get("state") in ("online", "offline") \
                and type(msg.get("epoch")) is str:
            return msg
    except Exception:
        pass
    return Rejection(BAD_VALUE, "not a server status message")
