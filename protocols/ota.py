# The over-the-air update conversation, on each device's own topics (topics.ota_up, topics.ota_down:
# inside the broker ACL's up/# and down/# patterns, so no new ACL line). One request in flight at a
# time, asked for by the device: the download goes as fast as the device takes it, never faster.
#
#   server -> device (builders in protocols/downlink.py)
#     offer    {"v","t":"offer","dev","ver","ts","trial_s"}   a release is there for this device; its
#                                                             trial boot must be confirmed in trial_s
#     part     {"v","t":"part","dev","ver","path","off","total"} "\n" <raw bytes>   a piece of a file
#     confirm  {"v","t":"confirm","dev","ver"}                the server recorded a heartbeat from ver
#     refuse   {"v","t":"refuse","dev","ver","path","why"}    a request the server cannot answer
#   device -> server (builders below)
#     get      {"v","t":"get","dev","ver","path","off","n"}    path: a file of the release, or
#                                                             manifest.json / manifest.sig
#     report   {"v","t":"report","dev","ver","state","fw","why","self"}   where the update stands
#
# Every message is canonical JSON (protocols.canonical); a part's bytes follow its header line raw.
import json
from protocols import MAJOR
from protocols.messages import MAX_PAYLOAD
from protocols.canonical import dump_value
from protocols.rejection import Rejection, BAD_VALUE, NOT_JSON, OVERSIZE
from protocols import release

# A part is one MQTT message, and the broker refuses any above the protocol's maximum
# (protocols.messages.MAX_PAYLOAD, 1 KB): its header (at most HEAD_MAX) and its bytes fit in it.
HEAD_MAX = 256
PART_MAX = MAX_PAYLOAD - HEAD_MAX   # 768 bytes of file per part
PART_MAX_GSM = 768       # over a modem link: ~0.5 s per part at 12 kbit/s, keys sampled in between
STATES = ("offered", "downloading", "verified", "switched", "trial", "confirmed", "rolled_back", "refused")
DOWN = ("offer", "part", "confirm", "refuse")
UP = ("get", "report")
_NAMES = (release.MANIFEST, release.SIGNATURE)


def encode(msg):
    return dump_value(msg).encode()


def get(dev, ver, path, off, n):
    return encode({"v": MAJOR, "t": "get", "dev": dev, "ver": ver, "path": path, "off": off, "n": n})


def report(dev, ver, state, fw, why=None, selftest=None):
    msg = {"v": MAJOR, "t": "report", "dev": dev, "ver": ver, "state": state, "fw": fw}
    if why:
        msg["why"] = why[:80]
    if selftest is not None:
        msg["self"] = selftest
    return encode(msg)


def path_ok(p):
    if type(p) is not str or not p or len(p) > 80:
        return False
    if p in _NAMES:
        return True
    return p[0] != "/" and ".." not in p.split("/") and "\\" not in p


def _int(v, lo, hi):
    return type(v) is int and lo <= v <= hi


def _problem(m, kinds):
    if type(m) is not dict:
        return "not an object"
    if m.get("v") != MAJOR:
        return "v"
    t = m.get("t")
    if t not in kinds:
        return "t %s" % (str(t)[:16],)
    if type(m.get("dev")) is not str or not (1 <= len(m["dev"]) <= 32):
        return "dev"
    if release.parse_version(m.get("ver")) is None:
        return "ver"
    if t in ("get", "part", "refuse") and not path_ok(m.get("path")):
        return "path"
    if t in ("get", "part") and not _int(m.get("off"), 0, 1 << 24):
        return "off"
    if t == "offer" and not _int(m.get("trial_s"), 10, 86400):
        return "trial_s"
    if t == "get" and not _int(m.get("n"), 1, PART_MAX):
        return "n"
    if t == "part" and not _int(m.get("total"), 0, 1 << 24):
        return "total"
    if t == "report":
        if m.get("state") not in STATES:
            return "state"
        if type(m.get("fw")) is not str or len(m["fw"]) > 24:
            return "fw"
    return None


def _loads(text):
    try:
        return json.loads(text)
    except (ValueError, UnicodeError):
        return None


def parse_up(payload):
    """A device's get or report as a dict, or a Rejection naming what is wrong."""
    if len(payload) > 512:
        return Rejection(OVERSIZE, "ota message of %d bytes" % len(payload))
    try:
        m = _loads(bytes(payload).decode())
    except UnicodeError:
        m = None
    if m is None:
        return Rejection(NOT_JSON, "ota message is not JSON")
    why = _problem(m, UP)
    return Rejection(BAD_VALUE, "ota " + why) if why else m


def parse_down(payload):
    """The server's offer, part (its bytes under "data"), confirm or refuse, or a Rejection."""
    payload = bytes(payload)
    nl = payload.find(b"\n")
    head = payload if nl < 0 else payload[:nl]
    if len(head) > HEAD_MAX:
        return Rejection(OVERSIZE, "ota header of %d bytes" % len(head))
    try:
        m = _loads(head.decode())
    except UnicodeError:
        m = None
    if m is None:
        return Rejection(NOT_JSON, "ota message is not JSON")
    why = _problem(m, DOWN)
    if why:
        return Rejection(BAD_VALUE, "ota " + why)
    if m["t"] == "part":
        if nl < 0:
            return Rejection(BAD_VALUE, "ota part without its bytes")
        m["data"] = payload[nl + 1:]
        if len(m["data"]) > PART_MAX or m["off"] + len(m["data"]) > m["total"]:
            return Rejection(BAD_VALUE, "ota part beyond its file")
    elif nl >= 0:
        return Rejection(BAD_VALUE, "ota %s with a body" % m["t"])
    return m
