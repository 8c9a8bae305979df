# A tracker's provisioning file (config.json on flash) plus overrides.json from "config" commands.
# Same rules as the button's (firmware.app.config): a bad file is a reason, never an exception,
# and an unknown setting is refused (a typo would silently keep a default).
from firmware.app import config
from firmware.app.config import REQUIRED, parse_schema

SCHEMA = {
    "app": ("tracker", "app", 0, 0),           # firmware/main.py runs the tracker when this says so
    "dev": (REQUIRED, "id", 0, 0),
    "password": (REQUIRED, "str", 1, 128),
    "user": (None, "str", 1, 64),
    "host": (REQUIRED, "str", 1, 253),
    "port": (1883, "int", 1, 65535),
    "tls": (False, "bool", 0, 0),
    "ca_file": (None, "str", 1, 64),           # CA certificate (PEM) on flash; with tls the broker must match it
    "wifi_ssid": (None, "str", 1, 32),         # read by the esp32 port (link ip)
    "wifi_password": (None, "str", 0, 64),
    "link": ("ip", "link", 0, 0),              # read by the port: ip (Wi-Fi, loopback) or gsm (the modem)
    "apn": ("internet", "str", 1, 64),
    "category": ("medical", "cat", 0, 0),      # the unit's agency: the category of a crew SOS
    "report_s": (10, "int", 1, 86400),         # moving: a position at least this often
    "turn_deg": (30, "int", 1, 180),           # moving: report a turn sharper than this at once
    "move_m": (200, "int", 1, 100000),         # report after this distance, moving or parked
    "parked_s": (300, "int", 1, 86400),        # parked: the slow heartbeat
    "moving_cms": (150, "int", 1, 10000),
    "fix_fresh_s": (120, "int", 1, 86400),     # an SOS carries the last fix if younger than this
    "pos_max": (500, "int", 4, 100000),        # positions kept on flash while offline
    "heartbeat_s": (60, "int", 1, 86400),      # health message
    "resend_s": (10, "int", 1, 3600),          # unacked SOS resent this often
    "sos_hold_ms": (1000, "int", 0, 60000),    # the crew SOS key must be held this long
    "debounce_ms": (30, "int", 0, 1000),
    "uere_m": (5, "int", 1, 100),              # acc = HDOP x UERE
    "keepalive_s": (30, "int", 2, 3600),
    "backoff_min_ms": (500, "int", 10, 600000),
    "backoff_max_ms": (60000, "int", 10, 3600000),
    "connect_timeout_ms": (5000, "int", 100, 60000),
    "tick_ms": (20, "int", 1, 100),
    "publish_burst": (10, "int", 1, 100),
}

# Keys of the protocol's "config" command a tracker understands, and where they land.
COMMAND_KEYS = {"heartbeat_s": "heartbeat_s", "ack_timeout_s": "resend_s", "report_s": "report_s",
                "turn_deg": "turn_deg", "move_m": "move_m", "parked_s": "parked_s"}


def parse(text, overrides_text=None):
    """(config dict, None) or (None, reason)."""
    return parse_schema(SCHEMA, "tracker", text, overrides_text)


def load(flash):
    return config.load(flash, parse)
