# Message types, their fields, units and limits. Each field is
#   (name, kind, required, nullable, a, b)
# kind "int": a..b inclusive; "str": a..b characters; "enum": a is the tuple of values;
# "bool"; "id": a device id; "cfg": an object of config keys (see CONFIG_KEYS).
# Units are in the field names' documentation below and in docs/protocol.md:
#   ts, exp: Unix seconds (UTC)            lat, lon: integer microdegrees (WGS84)
#   acc: metres (horizontal, 1 sigma-ish)  age: seconds since the fix was taken
#   spd: centimetres per second            hdg: degrees clockwise from true north, 0..359
#   alt: decimetres above MSL              hdop: HDOP x 10
#   batt: millivolts  pct: percent  rssi: dBm  temp: tenths of a degree Celsius
#   uptime: seconds  heap: free bytes
CATEGORIES = ("police", "fire", "medical", "sar", "disaster", "unknown")
TRIGGERS = ("button", "tamper", "stuck", "crew")
LOC_SOURCES = ("gps", "fixed", "cell", "wifi", "none")
STATES = ("online", "offline")
KINDS = ("button", "tracker", "gateway")
CREW = ("available", "enroute", "onscene", "returning", "oos")
# How the device's MQTT link is secured: TLS with the broker checked against the provisioned CA,
# TLS without that check, or plain TCP (a SIM800 has no TLS): said in every heartbeat.
LINK_SECURITY = ("tls", "tls_unverified", "plain")
CMD_OPS = ("feedback", "dispatch", "config", "reboot")
FEEDBACK = ("idle", "received", "dispatched", "near", "closed")
CMD_RESULTS = ("ok", "accepted", "declined", "rejected", "expired")
CONFIG_KEYS = ("heartbeat_s", "hold_ms", "ack_timeout_s", "sms_after_s", "report_s",
               "turn_deg", "move_m", "parked_s")

LAT = 90000000
LON = 180000000
TS_MIN = 1577836800   # 2020-01-01: anything earlier is a clock that never synced
TS_MAX = 4102444800   # 2100-01-01
U32 = 4294967295
MAX_PAYLOAD = 1024    # bytes; one MQTT frame from a device, far above any real message

_HEAD_UP = (
    ("v", "int", True, False, 1, 1),
    ("t", "str", True, False, 1, 8),
    ("dev", "id", True, False, 0, 0),
    ("boot", "int", True, False, 0, U32),
    ("seq", "int", True, False, 0, U32),
)
_TS = ("ts", "int", True, False, TS_MIN, TS_MAX)

FIELDS = {
    "alarm": _HEAD_UP + (
        _TS,
        ("cat", "enum", True, False, CATEGORIES, 0),
        ("trig", "enum", True, False, TRIGGERS, 0),
        ("presses", "int", True, False, 1, 100000),
        ("lat", "int", True, True, -LAT, LAT),
        ("lon", "int", True, True, -LON, LON),
        ("src", "enum", True, False, LOC_SOURCES, 0),
        ("acc", "int", True, True, 0, 10000000),
        ("age", "int", True, True, 0, 100000000),
    ),
    "pos": _HEAD_UP + (
        _TS,
        ("lat", "int", True, False, -LAT, LAT),
        ("lon", "int", True, False, -LON, LON),
        ("acc", "int", False, True, 0, 10000000),
        ("spd", "int", False, True, 0, 50000),
        ("hdg", "int", False, True, 0, 359),
        ("alt", "int", False, True, -50000, 1000000),
        ("fixq", "int", False, True, 0, 8),
        ("sats", "int", False, True, 0, 99),
        ("hdop", "int", False, True, 0, 9999),
    ),
    "status": _HEAD_UP + (
        ("state", "enum", True, False, STATES, 0),
        ("kind", "enum", False, True, KINDS, 0),
        ("fw", "str", False, True, 1, 24),
    ),
    "health": _HEAD_UP + (
        _TS,
        ("batt", "int", False, True, 0, 30000),
        ("pct", "int", False, True, 0, 100),
        ("rssi", "int", False, True, -150, 0),
        ("temp", "int", False, True, -600, 1500),
        ("tamper", "bool", True, False, 0, 0),
        ("stuck", "bool", True, False, 0, 0),
        ("uptime", "int", True, False, 0, U32),
        ("fw", "str", True, False, 1, 24),
        ("heap", "int", False, True, 0, U32),
        ("outbox", "int", False, True, 0, 100000),
        ("sec", "enum", False, True, LINK_SECURITY, 0),
    ),
    "crew": _HEAD_UP + (
        _TS,
        ("crew", "enum", True, False, CREW, 0),
        ("ign", "bool", False, True, 0, 0),
    ),
    "cmdres": _HEAD_UP + (
        _TS,
        ("id", "str", True, False, 1, 32),
        ("res", "enum", True, False, CMD_RESULTS, 0),
        ("why", "str", False, True, 1, 80),
    ),
    "ack": (
        ("v", "int", True, False, 1, 1),
        ("t", "str", True, False, 1, 8),
        ("dev", "id", True, False, 0, 0),
        ("boot", "int", True, False, 0, U32),
        ("seq", "int", True, False, 0, U32),
        ("inc", "int", True, False, 1, 2 ** 53),
        ("ts", "int", True, False, TS_MIN, TS_MAX),
    ),
    "cmd": (
        ("v", "int", True, False, 1, 1),
        ("t", "str", True, False, 1, 8),
        ("dev", "id", True, False, 0, 0),
        ("id", "str", True, False, 1, 32),
        ("ts", "int", True, False, TS_MIN, TS_MAX),
        ("exp", "int", True, False, TS_MIN, TS_MAX),
        ("op", "enum", True, False, CMD_OPS, 0),
        ("state", "enum", False, True, FEEDBACK, 0),
        ("inc", "int", False, True, 1, 2 ** 53),
        ("lat", "int", False, True, -LAT, LAT),
        ("lon", "int", False, True, -LON, LON),
        ("cat", "enum", False, True, CATEGORIES, 0),
        ("note", "str", False, True, 0, 120),
        ("cfg", "cfg", False, True, 0, 0),
    ),
}

# Per-op requirements of a command, checked after the field checks.
CMD_NEEDS = {
    "feedback": ("state",),
    "dispatch": ("inc", "lat", "lon", "cat"),
    "config": ("cfg",),
    "reboot": (),
}

TYPES = tuple(FIELDS.keys())


def order(kind):
    return tuple([f[0] for f in FIELDS[kind]])
