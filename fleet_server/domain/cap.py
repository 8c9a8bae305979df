"""CAP 1.2 (OASIS Common Alerting Protocol) export of an incident, and a safe CAP reader.

    xml: bytes = incident_to_cap(incident)                 # served by /api/v1/incidents/{id}/cap

The incident is a plain dict, so the server can feed it from any storage row. Keys:

    key          type                 required  meaning
    id           int >= 1             yes       incident number
    category     str                  yes       police|fire|medical|sar|disaster|unknown (protocols.messages)
    agency       str | None           no        police|fire|medical|sar|disaster; default: from category
    priority     int 1..4             yes       1 life-threatening now .. 4 no threat to life
    state        str                  yes       new|acknowledged|dispatched|enroute|onscene|resolved
                                                (fleet_server.domain.lifecycle's names; en_route and
                                                on_scene are accepted too), or a closure:
                                                false_alarm|prank|duplicate|cancelled
    received     int (Unix s)         yes       when the server received the first alarm (incident created)
    pressed      int (Unix s) | None  no        when the button was pressed (device clock) -> <onset>
    updated      int (Unix s) | None  no        last state change; <sent> of Update/Cancel (default received)
    lat, lon     int (microdeg) | None no       incident location (WGS84)
    accuracy_m   int | None           no        location uncertainty, metres -> circle radius
    site         str | None           no        site name of the button ("Taman Lansia")
    station      str | None           no        responsible station's name ("Polsek Bandung Wetan")
    press_count  int >= 1             no        presses folded into this incident (default 1)
    description  str | None           no        operator's or caller's description

msgType follows the state: a new incident is an Alert; any later active state or `resolved` is an
Update (resolved says AllClear, urgency Past); a closure (false alarm, prank, duplicate, cancelled)
is a Cancel. Updates and Cancels reference the incident's first Alert, which has a deterministic
identifier, so a receiver can chain them. Times are written in WIB (UTC+07:00, no DST), the
zone the command center works in. Bad input raises `CapError` naming the key.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

from lxml import etree

from protocols.messages import CATEGORIES, TS_MAX, TS_MIN

NS = "urn:oasis:names:tc:emergency:cap:1.2"
WIB = timezone(timedelta(hours=7), "WIB")
ACTIVE = ("new", "acknowledged", "dispatched", "enroute", "onscene")
CLOSURES = ("false_alarm", "prank", "duplicate", "cancelled")
STATES = ACTIVE + ("resolved",) + CLOSURES
# Spellings an earlier draft of this module documented; the API still sends them.
STATE_ALIASES = {"en_route": "enroute", "on_scene": "onscene"}
AGENCIES = ("police", "fire", "medical", "sar", "disaster")
DEFAULT_SENDER = "112@bandung.go.id"
SENDER_NAME = "Bandung Command Center 112"

# Our category -> (CAP <category>, event text). CAP has no "Police": law enforcement is "Security".
CATEGORY = {
    "police": ("Security", "Gangguan keamanan (Polisi 110)"),
    "fire": ("Fire", "Kebakaran (Damkar 113)"),
    "medical": ("Health", "Kedaruratan medis (Ambulans 119)"),
    "sar": ("Rescue", "Pencarian dan pertolongan (SAR 115)"),
    "disaster": ("Geo", "Bencana (BPBD 117)"),
    "unknown": ("Other", "Panggilan darurat 112"),
}
# priority -> (urgency, severity). A button press is unconfirmed: certainty comes from the state.
PRIORITY = {1: ("Immediate", "Extreme"), 2: ("Immediate", "Severe"), 3: ("Expected", "Moderate"),
            4: ("Future", "Minor")}
CERTAINTY = {"new": "Possible", "acknowledged": "Likely", "dispatched": "Likely", "enroute": "Likely",
             "onscene": "Observed", "resolved": "Observed", "false_alarm": "Unlikely", "prank": "Unlikely",
             "duplicate": "Unknown", "cancelled": "Unknown"}
CLOSURE_NOTE = {"false_alarm": "Ditutup: alarm palsu (false alarm)", "prank": "Ditutup: panggilan iseng (prank)",
                "duplicate": "Ditutup: duplikat insiden lain (duplicate)", "cancelled": "Dibatalkan (cancelled)"}
# XML 1.0 forbids most control characters and lone surrogates; callers' text may hold them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# CAP 1.2: identifier and sender must not include spaces, commas or restricted characters < and &.
_CAP_TOKEN = re.compile(r"^[^\s,<&]+$")


class CapError(ValueError):
    """An incident that cannot be expressed as CAP, with the reason."""


def _text(v: str, limit: int | None = None) -> str:
    s = _NOT_XML.sub("\ufffd", v)
    return s if limit is None or len(s) <= limit else s[: limit - 1] + "…"


def _iso(ts: int) -> str:
    # The XSD wants [+-]hh:mm, never "Z", and no fractions.
    return datetime.fromtimestamp(ts, WIB).strftime("%Y-%m-%dT%H:%M:%S+07:00")


def _udeg(v: int) -> str:
    sign = "-" if v < 0 else ""
    return f"{sign}{abs(v) // 1_000_000}.{abs(v) % 1_000_000:06d}"


def _int(incident: dict, key: str, lo: int, hi: int, required: bool = True) -> int | None:
    v = incident.get(key)
    if v is None:
        if required:
            raise CapError(f"incident key {key!r} is required")
        return None
    if type(v) is not int or not (lo <= v <= hi):
        raise CapError(f"incident key {key!r} must be an integer in {lo}..{hi}, got {v!r}")
    return v


def _str(incident: dict, key: str) -> str | None:
    v = incident.get(key)
    if v is not None and not isinstance(v, str):
        raise CapError(f"incident key {key!r} must be a string or null, got {type(v).__name__}")
    return v or None


def alert_identifier(incident_id: int, ts: int, state: str) -> str:
    return f"siaga112-{incident_id}-{ts}-{state}"


def _checked(incident: dict, sender: str) -> dict:
    if not isinstance(incident, dict):
        raise CapError("incident must be a dict")
    if not isinstance(sender, str) or not _CAP_TOKEN.match(sender):
        raise CapError(f"sender {sender!r} must be non-empty without spaces, commas, '<' or '&'")
    c = {"id": _int(incident, "id", 1, 2 ** 53)}
    c["category"] = incident.get("category")
    if c["category"] not in CATEGORIES:
        raise CapError(f"incident key 'category' must be one of {', '.join(CATEGORIES)}, got {c['category']!r}")
    agency = incident.get("agency")
    if agency is not None and agency not in AGENCIES:
        raise CapError(f"incident key 'agency' must be one of {', '.join(AGENCIES)} or null, got {agency!r}")
    c["priority"] = _int(incident, "priority", 1, 4)
    c["state"] = STATE_ALIASES.get(incident.get("state"), incident.get("state"))
    if c["state"] not in STATES:
        raise CapError(f"incident key 'state' must be one of {', '.join(STATES)}, got {c['state']!r}")
    ts_range = (TS_MIN, TS_MAX)  # the wire protocol's sane clock range (2020..2100)
    c["received"] = _int(incident, "received", *ts_range)
    c["pressed"] = _int(incident, "pressed", *ts_range, required=False)
    c["updated"] = _int(incident, "updated", *ts_range, required=False) or c["received"]
    c["lat"] = _int(incident, "lat", -90_000_000, 90_000_000, required=False)
    c["lon"] = _int(incident, "lon", -180_000_000, 180_000_000, required=False)
    if (c["lat"] is None) != (c["lon"] is None):
        raise CapError("incident keys 'lat' and 'lon' must both be set or both be null")
    c["accuracy_m"] = _int(incident, "accuracy_m", 0, 10_000_000, required=False)
    c["press_count"] = _int(incident, "press_count", 1, 10 ** 9, required=False) or 1
    for k in ("site", "station", "description"):
        c[k] = _str(incident, k)
    return c


def incident_to_cap(incident: dict, sender: str = DEFAULT_SENDER) -> bytes:
    """The incident as a CAP 1.2 <alert> document (UTF-8 bytes with an XML declaration)."""
    c = _checked(incident, sender)
    state = c["state"]
    if state == "new":
        msg_type, sent = "Alert", c["received"]
    elif state in CLOSURES:
        msg_type, sent = "Cancel", c["updated"]
    else:
        msg_type, sent = "Update", c["updated"]
    cap_category, event = CATEGORY[c["category"]]
    urgency, severity = PRIORITY[c["priority"]]
    if state == "resolved":
        urgency = "Past"

    alert = etree.Element(f"{{{NS}}}alert", nsmap={None: NS})

    def sub(parent, tag: str, text: str | None = None):
        el = etree.SubElement(parent, f"{{{NS}}}{tag}")
        if text is not None:
            el.text = text
        return el

    # Element order is fixed by the XSD sequence.
    sub(alert, "identifier", alert_identifier(c["id"], sent, state))
    sub(alert, "sender", sender)
    sub(alert, "sent", _iso(sent))
    sub(alert, "status", "Actual")
    sub(alert, "msgType", msg_type)
    sub(alert, "scope", "Public")
    if state in CLOSURES:
        sub(alert, "note", CLOSURE_NOTE[state])
    if msg_type != "Alert":
        first = alert_identifier(c["id"], c["received"], "new")
        sub(alert, "references", f"{sender},{first},{_iso(c['received'])}")
    sub(alert, "incidents", f"siaga112-{c['id']}")

    info = sub(alert, "info")
    sub(info, "language", "id-ID")
    sub(info, "category", cap_category)
    sub(info, "event", event)
    if state == "resolved":
        sub(info, "responseType", "AllClear")
    elif state in CLOSURES:
        sub(info, "responseType", "None")
    sub(info, "urgency", urgency)
    sub(info, "severity", severity)
    sub(info, "certainty", CERTAINTY[state])
    code = sub(info, "eventCode")
    sub(code, "valueName", "siaga112:category")
    sub(code, "value", c["category"])
    if c["pressed"] is not None:
        sub(info, "onset", _iso(c["pressed"]))
    sub(info, "senderName", SENDER_NAME)
    where = c["site"] or (c["station"] and f"wilayah {c['station']}") or "Kota Bandung"
    sub(info, "headline", _text(f"{event} — {where}", 160))
    desc = [f"Insiden #{c['id']}, status {state}, prioritas {c['priority']}, {c['press_count']} kali tekan."]
    if c["description"]:
        desc.append(c["description"])
    sub(info, "description", _text("\n".join(desc)))
    sub(info, "contact", "112")
    for name, value in (("press_count", str(c["press_count"])), ("priority", str(c["priority"])),
                        ("state", state), ("station", c["station"])):
        if value:
            p = sub(info, "parameter")
            sub(p, "valueName", f"siaga112:{name}")
            sub(p, "value", _text(value))

    area = sub(info, "area")
    desc_parts = [p for p in (c["site"], c["station"] and f"wilayah {c['station']}") if p]
    sub(area, "areaDesc", _text(", ".join(desc_parts) or "Kota Bandung"))
    if c["lat"] is not None:
        radius_km = (c["accuracy_m"] or 0) / 1000
        sub(area, "circle", f"{_udeg(c['lat'])},{_udeg(c['lon'])} {radius_km:.3f}")
    return etree.tostring(alert, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# -- reading CAP (other agencies' alerts, our own in tests) ------------------------------------
def safe_parser() -> etree.XMLParser:
    """No DTD loading, no entity expansion, no network: a CAP file may be hostile (XXE)."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_pis=True)


def parse(data: bytes) -> etree._Element:
    try:
        return etree.fromstring(data, safe_parser())
    except etree.XMLSyntaxError as e:
        raise CapError(f"not well-formed XML: {e}") from None


def schema(xsd_path: str | Path) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(xsd_path), safe_parser()))


def schema_errors(data: bytes, xsd: etree.XMLSchema) -> list[str]:
    """Why the document is not valid CAP 1.2 (empty when it is)."""
    try:
        doc = parse(data)
    except CapError as e:
        return [str(e)]
    if xsd.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in xsd.error_log]


def read_alert(data: bytes) -> dict:
    """The main facts of a CAP 1.2 alert as plain values; raises CapError for another version."""
    root = parse(data)
    if root.tag != f"{{{NS}}}alert":
        raise CapError(f"not a CAP 1.2 alert: root element {root.tag!r}")
    q = f"{{{NS}}}"

    def one(el, tag):
        found = el.find(q + tag)
        return found.text if found is not None else None

    def pairs(el, tag):
        return [[one(e, "valueName"), one(e, "value")] for e in el.findall(q + tag)]

    def infos():
        for info in root.findall(q + "info"):
            yield {
                **{k: one(info, k) for k in ("language", "event", "urgency", "severity", "certainty", "effective",
                                              "onset", "expires", "senderName", "headline")},
                "categories": [e.text for e in info.findall(q + "category")],
                "responseTypes": [e.text for e in info.findall(q + "responseType")],
                "eventCodes": pairs(info, "eventCode"),
                "areas": [{"areaDesc": one(a, "areaDesc"),
                           "polygons": [e.text for e in a.findall(q + "polygon")],
                           "circles": [e.text for e in a.findall(q + "circle")],
                           "geocodes": pairs(a, "geocode")}
                          for a in info.findall(q + "area")],
                "resources": len(info.findall(q + "resource")),
            }

    return {k: one(root, k) for k in ("identifier", "sender", "sent", "status", "msgType", "scope",
                                      "references", "incidents", "note")} | {"infos": list(infos())}
