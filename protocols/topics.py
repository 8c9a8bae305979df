# Topic scheme, version 1. The device id is a topic level so one broker ACL line
# ("pattern write siaga/v1/dev/%u/up/#", "pattern read siaga/v1/dev/%u/down/#") pins every
# device to its own topics. Uplink and downlink live in separate subtrees so a device can
# never publish what only the server may say (acks, commands).
#
#   siaga/v1/dev/<device_id>/up/<alarm|pos|status|health|crew|cmdres>   device -> server
#   siaga/v1/dev/<device_id>/down/<ack|cmd>                             server -> device
#   siaga/v1/dev/<device_id>/up/ota, .../down/ota                       firmware updates (protocols/ota.py)
#   siaga/v1/server/status                                              server birth / will
from protocols.rejection import Rejection, BAD_TOPIC

ROOT = "siaga"
VERSION = "v1"
UP_TYPES = ("alarm", "pos", "status", "health", "crew", "cmdres")
DOWN_TYPES = ("ack", "cmd")
OTA = "ota"   # not in UP_TYPES/DOWN_TYPES: its messages are protocols.ota's, not codec_json's
SERVER_STATUS = ROOT + "/" + VERSION + "/server/status"
DEVICE_ID_MAX = 32
_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"


def valid_device_id(s):
    if type(s) is not str or not (1 <= len(s) <= DEVICE_ID_MAX):
        return False
    for ch in s:
        if ch not in _ID_CHARS:
            return False
    return True


def _check(device_id, kind, allowed):
    if not valid_device_id(device_id):
        raise ValueError("bad device id %r" % (device_id,))
    if kind not in allowed:
        raise ValueError("unknown message type %r" % (kind,))


def up(device_id, kind):
    _check(device_id, kind, UP_TYPES)
    return ROOT + "/" + VERSION + "/dev/" + device_id + "/up/" + kind


def down(device_id, kind):
    _check(device_id, kind, DOWN_TYPES)
    return ROOT + "/" + VERSION + "/dev/" + device_id + "/down/" + kind


def ota_up(device_id):
    _check(device_id, OTA, (OTA,))
    return ROOT + "/" + VERSION + "/dev/" + device_id + "/up/" + OTA


def ota_down(device_id):
    _check(device_id, OTA, (OTA,))
    return ROOT + "/" + VERSION + "/dev/" + device_id + "/down/" + OTA


def subscription_up(kind="+"):
    # What the fleet server subscribes to (one filter per type, so callbacks route like web routes).
    return ROOT + "/" + VERSION + "/dev/+/up/" + kind


def subscription_down(device_id):
    return ROOT + "/" + VERSION + "/dev/" + device_id + "/down/+"


def parse(topic):
    """Return (direction, device_id, kind) for a device topic, ("server", None, "status") for the
    server's status topic, or a Rejection."""
    if type(topic) is not str:
        try:
            topic = topic.decode("utf-8")
        except Exception:
            return Rejection(BAD_TOPIC, "topic is not UTF-8 text")
    if topic == SERVER_STATUS:
        return ("server", None, "status")
    parts = topic.split("/")
    if len(parts) != 6 or parts[0] != ROOT or parts[2] != "dev":
        return Rejection(BAD_TOPIC, "topic %r is not a Siaga device topic" % topic[:80])
    if parts[1] != VERSION:
        return Rejection(BAD_TOPIC, "topic version %r is not %s" % (parts[1][:16], VERSION))
    device_id, direction, kind = parts[3], parts[4], parts[5]
    if not valid_device_id(device_id):
        return Rejection(BAD_TOPIC, "device id %r in topic is not valid" % device_id[:40])
    if direction == "up" and kind in UP_TYPES:
        return ("up", device_id, kind)
    if direction == "down" and kind in DOWN_TYPES:
        return ("down", device_id, kind)
    if kind == OTA and direction in ("up", "down"):
        return (direction, device_id, kind)
    return Rejection(BAD_TOPIC, "unknown %s message type %r" % (direction[:8], kind[:16]))
