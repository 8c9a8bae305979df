# What the server sends to devices, built in one place: the ack a device's outbox waits for,
# the commands (feedback, dispatch order, config, reboot) and the server's own status.
# Each builder returns the canonical bytes (codec_json.encode: schema-checked, fixed key order),
# so the server, the simulators and the tests put exactly the same bytes on the wire.
from protocols import MAJOR, codec_json
from protocols.ota import encode as _ota

server_status = codec_json.server_status   # the server's birth and will on topics.SERVER_STATUS


def ack(dev, boot, seq, inc, ts):
    """The application-level ack of alarm (dev, boot, seq), sent once incident inc is committed."""
    return codec_json.encode({"v": MAJOR, "t": "ack", "dev": dev, "boot": boot, "seq": seq, "inc": inc,
                              "ts": ts})


def feedback_id(inc, state):
    # One id per incident and LED state: whoever sends it (the incident core, dispatch), a device
    # that already showed that state for that incident answers the repeat without acting twice.
    return ("fb%d-%s" % (inc, state))[:32]


def _cmd(dev, cmd_id, op, ts, ttl_s):
    return {"v": MAJOR, "t": "cmd", "dev": dev, "id": cmd_id, "ts": ts, "exp": ts + ttl_s, "op": op}


def feedback(dev, inc, state, ts, ttl_s):
    """Show state ("received", "dispatched", "near", "closed"...) of incident inc on a button."""
    msg = _cmd(dev, feedback_id(inc, state), "feedback", ts, ttl_s)
    msg["state"] = state
    msg["inc"] = inc
    return codec_json.encode(msg)


def dispatch_order(dev, order_id, inc, lat, lon, cat, note, ts, ttl_s):
    """Send the unit whose tracker is dev to incident inc at (lat, lon) microdegrees."""
    msg = _cmd(dev, order_id, "dispatch", ts, ttl_s)
    msg["inc"] = inc
    msg["lat"] = lat
    msg["lon"] = lon
    msg["cat"] = cat
    msg["note"] = note
    return codec_json.encode(msg)


def config_command(dev, cmd_id, cfg, ts, ttl_s):
    """Change device settings (keys of messages.CONFIG_KEYS, integer values)."""
    msg = _cmd(dev, cmd_id, "config", ts, ttl_s)
    msg["cfg"] = cfg
    return codec_json.encode(msg)


def reboot_command(dev, cmd_id, ts, ttl_s):
    return codec_json.encode(_cmd(dev, cmd_id, "reboot", ts, ttl_s))


# ---- firmware updates on topics.ota_down (protocols/ota.py describes the conversation) ----------
def ota_offer(dev, ver, ts, trial_s):
    """Release ver is there for dev: the device asks for its manifest when it is ready, and falls
    back by itself if the server has not confirmed a heartbeat from its trial boot within trial_s."""
    return _ota({"v": MAJOR, "t": "offer", "dev": dev, "ver": ver, "ts": ts, "trial_s": trial_s})


def ota_part(dev, ver, path, off, total, data):
    """Bytes off.. of file path (total bytes long) of release ver: a header line, then the bytes."""
    return _ota({"v": MAJOR, "t": "part", "dev": dev, "ver": ver, "path": path, "off": off,
                 "total": total}) + b"\n" + (data.encode() if type(data) is str else bytes(data))


def ota_confirm(dev, ver):
    """The server recorded a heartbeat from dev running ver: the trial boot may become permanent."""
    return _ota({"v": MAJOR, "t": "confirm", "dev": dev, "ver": ver})


def ota_refuse(dev, ver, path, why):
    return _ota({"v": MAJOR, "t": "refuse", "dev": dev, "ver": ver, "path": path, "why": why[:80]})


BUILDERS = ("ack", "feedback", "dispatch_order", "config_command", "reboot_command", "server_status",
            "ota_offer", "ota_part", "ota_confirm", "ota_refuse")
