# The one provisioning file, config.json on the device's flash, plus overrides.json written when the
# fleet server sends a "config" command. Missing or bad config is a value with a reason, never an
# exception: the device then shows the config_error pattern and keeps its watchdog fed (no crash
# loop that would hide the reason from the technician).
import json
from protocols import topics
from protocols.messages import CATEGORIES, LAT, LON
from firmware.hal import CONFIG_FILE

OVERRIDES_FILE = "overrides.json"

# name: (default or REQUIRED, kind, low, high)
REQUIRED = object()
APPS = ("button", "tracker")                  # firmware/main.py runs the one config.json names
LINKS = ("ip", "gsm")                         # ip: the port's own network (Wi-Fi, loopback); gsm: the modem's data
SCHEMA = {
    "app": ("button", "app", 0, 0),
    "dev": (REQUIRED, "id", 0, 0),
    "password": (REQUIRED, "str", 1, 128),
    "user": (None, "str", 1, 64),              # defaults to dev (the broker ACL keys on it)
    "host": (REQUIRED, "str", 1, 253),
    "port": (1883, "int", 1, 65535),
    "tls": (False, "bool", 0, 0),
    "ca_file": (None, "str", 1, 64),          # CA certificate (PEM) on flash; with tls the broker must match it
    "site": ("", "str", 0, 64),
    "lat": (REQUIRED, "int", -LAT, LAT),
    "lon": (REQUIRED, "int", -LON, LON),
    "acc_m": (10, "int", 0, 10000),           # how well the provisioned site location is known
    "category": ("unknown", "cat", 0, 0),
    "keys": (None, "keys", 0, 0),             # {"sos": "medical"} or {"sos_police": "police", ...}
    "wifi_ssid": (None, "str", 1, 32),        # read by the esp32/rp2 ports
    "wifi_password": (None, "str", 0, 64),
    "link": ("ip", "link", 0, 0),             # read by the port: which network carries MQTT
    "apn": ("internet", "str", 1, 64),        # the SIM's data APN (link gsm)
    "sms_after_s": (None, "int", 1, 86400),   # an alarm not acked this long goes once by SMS; None: never
    "center_number": (None, "str", 3, 20),    # the 112 center's SMS number (E.164)
    "sms_key": (None, "hex", 16, 64),         # the device's SMS signing key, hex (16..64 bytes)
    "tamper_category": ("police", "cat", 0, 0),
    "hold_ms": (1500, "int", 0, 60000),
    "debounce_ms": (30, "int", 0, 1000),
    "stuck_s": (180, "int", 1, 86400),
    "active_s": (600, "int", 0, 86400),       # presses within this of the last alarm fold into it
    "heartbeat_s": (60, "int", 1, 86400),
    "resend_s": (10, "int", 1, 3600),
    "keepalive_s": (30, "int", 2, 3600),
    "backoff_min_ms": (500, "int", 10, 600000),
    "backoff_max_ms": (60000, "int", 10, 3600000),
    "connect_timeout_ms": (5000, "int", 100, 60000),
    "selftest_ms": (1500, "int", 0, 60000),
    "closed_show_s": (30, "int", 0, 86400),
    "tick_ms": (10, "int", 1, 100),
    "publish_burst": (10, "int", 1, 100),     # outbox resends queued per loop step
}

CHOICES = {"cat": CATEGORIES, "app": APPS, "link": LINKS}   # kinds whose value is one of a list

# Keys of the protocol's "config" command that a button understands, and where they land.
COMMAND_KEYS = {"heartbeat_s": "heartbeat_s", "hold_ms": "hold_ms", "ack_timeout_s": "resend_s"}


def _check(name, kind, lo, hi, v):
    if kind == "int":
        if type(v) is not int or v < lo or v > hi:
            return "%s must be an integer %d..%d" % (name, lo, hi)
    elif kind == "str":
        if type(v) is not str or len(v) < lo or len(v) > hi:
            return "%s must be text of %d..%d characters" % (name, lo, hi)
    elif kind == "bool":
        if v is not True and v is not False:
            return "%s must be true or false" % name
    elif kind == "id":
        if not topics.valid_device_id(v):
            return "%s must be a device id (1..32 of a-z A-Z 0-9 - _)" % name
    elif kind in CHOICES:
        if v not in CHOICES[kind]:
            return "%s must be one of %s" % (name, ", ".join(CHOICES[kind]))
    elif kind == "hex":
        # strip() leaves text only where a character is not a hex digit
        if type(v) is not str or len(v) % 2 or len(v) < 2 * lo or len(v) > 2 * hi or v.strip("0123456789abcdefABCDEF"):
            return "%s must be %d..%d bytes as hex digits" % (name, lo, hi)
    elif kind == "keys":
        if v is None:
            return None
        if type(v) is not dict or not v:
            return "keys must be an object of key name -> category"
        for k in v:
            if type(k) is not str or not k or v[k] not in CATEGORIES:
                return "keys.%s must name a category (%s)" % (str(k)[:16], ", ".join(CATEGORIES))
    return None


def parse_schema(schema, app, text, overrides_text=None):
    """The rules every app's config.json follows: (config dict, None) or (None, reason). Overrides
    (from "config" commands) apply only to known settings; an unknown setting is refused, since a
    typo would silently keep a default; the file must be for this app."""
    try:
        raw = json.loads(text)
    except Exception:
        return None, "config.json is not valid JSON"
    if type(raw) is not dict:
        return None, "config.json must hold one JSON object"
    if overrides_text:
        try:
            extra = json.loads(overrides_text)
            if type(extra) is dict:
                for k in extra:
                    if k in schema:
                        raw[k] = extra[k]
        except Exception:
            pass  # a bad override file must not brick a provisioned device
    cfg = {}
    for name in schema:
        default, kind, lo, hi = schema[name]
        if name not in raw or raw[name] is None:
            if default is REQUIRED:
                return None, "config.json lacks %s" % name
            cfg[name] = default
            continue
        why = _check(name, kind, lo, hi, raw[name])
        if why:
            return None, "config.json: " + why
        cfg[name] = raw[name]
    for name in raw:
        if name not in schema:
            return None, "config.json: unknown setting %s (a typo would silently keep a default)" % str(name)[:32]
    if cfg["user"] is None:
        cfg["user"] = cfg["dev"]
    if cfg["backoff_max_ms"] < cfg["backoff_min_ms"]:
        return None, "config.json: backoff_max_ms is below backoff_min_ms"
    if cfg["app"] != app:
        return None, "config.json: app is %s, but this is the %s's firmware" % (cfg["app"], app)
    return cfg, None


def parse(text, overrides_text=None):
    """The button's config: (config dict, None) or (None, reason)."""
    cfg, why = parse_schema(SCHEMA, "button", text, overrides_text)
    if cfg is None:
        return None, why
    if cfg["sms_after_s"] is not None and (cfg["center_number"] is None or cfg["sms_key"] is None):
        # Half an SMS setup would let the technician believe the fallback is armed.
        return None, "config.json: sms_after_s needs center_number and sms_key"
    return cfg, None


def key_category(cfg, name):
    """Category of a key: from "keys" when provisioned; otherwise a board key named sos_<category>
    speaks for itself and any other key takes "category". None: the key is not in use."""
    if cfg["keys"] is not None:
        return cfg["keys"].get(name)
    if name.startswith("sos_") and name[4:] in CATEGORIES:
        return name[4:]
    return cfg["category"]


def load(flash, parser=None):
    """(config dict, None) or (None, reason): config.json and overrides.json read from flash, through
    an app's parser (the button's by default)."""
    text = flash.read(CONFIG_FILE)
    if text is None:
        return None, "config.json is missing from flash (provision the device)"
    return (parser or parse)(text, flash.read(OVERRIDES_FILE))


def save_overrides(flash, changes):
    old = flash.read(OVERRIDES_FILE)
    merged = {}
    if old:
        try:
            merged = json.loads(old)
        except Exception:
            merged = {}
    for k in changes:
        merged[k] = changes[k]
    flash.write(OVERRIDES_FILE, json.dumps(merged).encode())
