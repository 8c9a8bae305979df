"""OwnTracks JSON -> Reports, for MQTT (topic owntracks/<user>/<device>[/event]) and HTTP mode.

- `location`: a fix (tst in epoch seconds, vel km/h, cog degrees, acc/alt metres); rejected when
  tst is 0 or when it has neither tid nor topic (as the OwnTracks app itself rejects it);
- `transition`: a region enter/leave, kept as an event (and its fix, when it carries one);
- `lwt`: the broker's last will for the app: the phone is offline;
- `encrypted`: refused with a reason unless a key is configured; with one, the payload is opened
  with libsodium's secretbox (PyNaCl), the key being the passphrase zero-padded to 32 bytes, as
  the app seals it;
- a JSON array is several messages; waypoints, cards, commands, messages without a `_type` and
  the like carry nothing for the units pipeline and yield no report.

Traccar's OwnTracksProtocolDecoder is the reference. The device's identity is "<user>/<device>"."""
from __future__ import annotations

import base64
import binascii
import math

from protocols.rejection import (Rejection, BAD_TOPIC, BAD_VALUE, MISSING_FIELD, NOT_OBJECT,
                                 UNKNOWN_TYPE, OUT_OF_RANGE)
from fleet_server.adapters import vocab

MAX_MESSAGES = 1000
IGNORED_TYPES = ("waypoint", "waypoints", "card", "cmd", "configuration", "beacon", "steps", "status",
                 "request", "dump")


def identity_from_topic(topic: str) -> str | Rejection:
    parts = topic.split("/")
    if len(parts) < 3 or parts[0] != "owntracks" or not parts[1] or not parts[2]:
        return Rejection(BAD_TOPIC, "an OwnTracks topic is owntracks/<user>/<device>, not %r" % topic[:64])
    return parts[1] + "/" + parts[2]


def _num(v):
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            return None
    if not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return v


def secret_key(passphrase: str | bytes) -> bytes:
    key = passphrase.encode("utf-8") if isinstance(passphrase, str) else bytes(passphrase)
    return key[:32].ljust(32, b"\0")


def decrypt(data: str, key: bytes) -> bytes | Rejection:
    from nacl.exceptions import CryptoError
    from nacl.secret import SecretBox
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return Rejection(BAD_VALUE, "encrypted data is not base64")
    if len(raw) <= SecretBox.NONCE_SIZE:
        return Rejection(BAD_VALUE, "encrypted data is shorter than its nonce")
    try:
        return SecretBox(key).decrypt(raw[SecretBox.NONCE_SIZE:], raw[:SecretBox.NONCE_SIZE])
    except CryptoError:
        return Rejection(vocab.ENCRYPTED, "encrypted payload does not open with the configured key")


def encrypt(plain: bytes, key: bytes) -> str:
    """What the app sends: base64(nonce + secretbox). For tests and the simulator."""
    from nacl.secret import SecretBox
    from nacl.utils import random
    nonce = random(SecretBox.NONCE_SIZE)
    return base64.b64encode(nonce + SecretBox(key).encrypt(plain, nonce).ciphertext).decode("ascii")


def _location(dev: str, m: dict, topic: str | None) -> list | Rejection:
    tst = _num(m.get("tst"))
    if tst is None:
        return Rejection(MISSING_FIELD, "location has no tst")
    if tst <= 0:
        return Rejection(OUT_OF_RANGE, "location tst %s is not a time" % tst)
    if not m.get("tid") and not m.get("topic") and not topic:
        return Rejection(MISSING_FIELD, "location has neither tid nor topic")
    lat, lon = _num(m.get("lat")), _num(m.get("lon"))
    if lat is None or lon is None:
        return Rejection(MISSING_FIELD, "location needs numeric lat and lon")
    if not vocab.valid_coordinates(lat, lon):
        return Rejection(OUT_OF_RANGE, "lat %s / lon %s is not a place on Earth" % (lat, lon))
    vel, cog, acc = _num(m.get("vel")), _num(m.get("cog")), _num(m.get("acc"))
    return [vocab.position(dev, int(tst), 0, int(tst), lat, lon, acc=acc if acc and acc > 0 else None,
                           spd=None if vel is None or vel < 0 else vocab.cm_s_from_kmh(vel),
                           hdg=cog, alt=_num(m.get("alt")))]


def _transition(dev: str, m: dict) -> list | Rejection:
    ev = m.get("event")
    if ev not in ("enter", "leave"):
        return Rejection(BAD_VALUE, "transition event must be enter or leave")
    tst = _num(m.get("tst"))
    if tst is None or tst <= 0:
        return Rejection(MISSING_FIELD, "transition needs its tst")
    out = [vocab.event(dev, int(tst), "geofenceEnter" if ev == "enter" else "geofenceExit")]
    lat, lon = _num(m.get("lat")), _num(m.get("lon"))
    if lat is not None and lon is not None and vocab.valid_coordinates(lat, lon):
        acc = _num(m.get("acc"))
        out.insert(0, vocab.position(dev, int(tst), 1, int(tst), lat, lon, acc=acc if acc and acc > 0 else None))
    return out


def _one(dev: str, m, topic: str | None, key: bytes | None, depth: int) -> list | Rejection:
    if not isinstance(m, dict):
        return Rejection(NOT_OBJECT, "an OwnTracks message is a JSON object")
    t = m.get("_type")
    if t == "location":
        return _location(dev, m, topic)
    if t == "transition":
        return _transition(dev, m)
    if t == "lwt":
        return [vocab.status(dev, "offline")]
    if t == "encrypted":
        if key is None:
            return Rejection(vocab.ENCRYPTED, "payload is encrypted and no OwnTracks key is configured")
        if depth > 0 or not isinstance(m.get("data"), str):
            return Rejection(BAD_VALUE, "encrypted payload has no data string")
        plain = decrypt(m["data"], key)
        if isinstance(plain, Rejection):
            return plain
        return _decode(dev, plain, topic, key, depth + 1)
    if t in IGNORED_TYPES:
        return []
    if t is None:
        return []   # the app reads a message without _type as an unknown message, not an error
    return Rejection(UNKNOWN_TYPE, "message type %r is not known" % str(t)[:24])


def _decode(dev: str, payload, topic, key, depth) -> list | Rejection:
    root = vocab.load_json(payload, objects_only=False)
    if isinstance(root, Rejection):
        return root
    msgs = root if isinstance(root, list) else [root]
    if len(msgs) > MAX_MESSAGES:
        return Rejection(OUT_OF_RANGE, "at most %d messages in one payload" % MAX_MESSAGES)
    out: list = []
    for m in msgs:
        r = _one(dev, m, topic, key, depth)
        if isinstance(r, Rejection):
            return r
        out.extend(r)
    return out


def decode(payload: bytes | str, dev: str, topic: str | None = None, key: bytes | None = None) -> list | Rejection:
    """One MQTT payload or HTTP body from device `dev` ("<user>/<device>")."""
    return _decode(dev, payload, topic, key, 0)
