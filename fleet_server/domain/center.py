"""The 112 center's own rules beside the alarms: reclassifying what lands in triage, handing a
non-emergency to another channel, and the caller's number (kept in full, shown masked, counted in
the prank ledger like a device). Pure: the service applies them inside its transactions."""
from __future__ import annotations

import re

from fleet_server.domain import classification, lifecycle, prank
from fleet_server.logs import mask_phone

HANDED_OFF = lifecycle.HANDED_OFF
MIN_PRIORITY, MAX_PRIORITY = 1, classification.REPORT_PRIORITY
DEFAULT_CHANNELS = ("complaints=Public complaints service (LAPOR!),"
                    "agency_desk=The agency's own desk,"
                    "pln=PLN electricity 123,"
                    "pdam=PDAM water utility")
_CHANNEL_CODE = re.compile(r"^[a-z0-9_]{1,24}$")
_REFERENCE = re.compile(r"^[A-Za-z0-9/._-]{1,40}$")
_NUMBER_JUNK = re.compile(r"[\s().-]")
INTERNATIONAL_MIN_DIGITS = 9   # 62 + at least 7 more digits: an Indonesian number without its plus


class RuleError(ValueError):
    """A request the center's rules refuse: code (stable) and a sentence."""

    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


# ---- triage: reclassify ----------------------------------------------------------------------
def check_reclassify(state: str, category: str, agency: str | None, priority: int, reason: str | None) -> str:
    """The agency the incident goes to (the category's unless named); raises RuleError."""
    if state not in lifecycle.OPEN:
        raise RuleError("closed", f"incident is closed ({state}); a closed incident keeps its class")
    if category not in classification.AGENCIES:
        raise RuleError("bad_category",
                        f"category {category!r} is not one of {', '.join(classification.AGENCIES)}")
    agency = agency or classification.agency_for(category)
    if agency not in classification.AGENCY_CODES:
        raise RuleError("bad_agency", f"agency {agency!r} is not one of {', '.join(classification.AGENCY_CODES)}")
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise RuleError("bad_priority", f"priority must be {MIN_PRIORITY} (most urgent) to {MAX_PRIORITY}")
    if not reason or not reason.strip():
        raise RuleError("reason_needed", "reclassifying needs a reason (what the caller said, what was seen)")
    return agency


def service_of(agency: str) -> str:
    """The responding service (station areas are drawn per service) of an agency code."""
    for category, a in classification.AGENCIES.items():
        if a["agency"] == agency:
            return category
    return "unknown"


def class_of(category: str, agency: str, priority: int) -> str:
    """One audit value for the class: 'medical/dinkes/P1'."""
    return f"{category}/{agency}/P{priority}"


# ---- non-emergency: hand off to another channel -----------------------------------------------
def parse_channels(spec: str) -> dict[str, str]:
    """'code=Name,code=Name' -> {code: name} (empty: DEFAULT_CHANNELS); a bad entry raises
    RuleError naming it."""
    out: dict[str, str] = {}
    for part in (p.strip() for p in (spec or DEFAULT_CHANNELS).split(",")):
        if not part:
            continue
        code, sep, name = part.partition("=")
        code, name = code.strip(), name.strip()
        if not sep or not _CHANNEL_CODE.match(code) or not name:
            raise RuleError("bad_channel_list", f"hand-off channel {part!r} is not code=Name (code: a-z, 0-9, _)")
        out[code] = name
    return out


def check_hand_off(type_: str, state: str, channel: str, channels: dict[str, str], reference: str | None,
                   incident_id: int) -> str:
    """The reference the caller is given (the receiving channel's, else one of ours); raises RuleError."""
    if type_ != "report":
        raise RuleError("not_a_report", "only a non-emergency report is handed to another channel; "
                                        "an emergency stays with the responders")
    if state not in lifecycle.OPEN:
        raise RuleError("closed", f"report is already closed ({state})")
    if channel not in channels:
        raise RuleError("unknown_channel", f"channel {channel!r} is not one of {', '.join(channels) or '(none configured)'}")
    reference = (reference or "").strip()
    if reference and not _REFERENCE.match(reference):
        raise RuleError("bad_reference", "a reference is 1-40 letters, digits or / . _ -")
    return reference or f"112-{channel.upper()}-{incident_id:06d}"


# ---- the caller's number --------------------------------------------------------------------
def normalize_number(raw: str | None) -> str | None:
    """A caller's number as stored: digits with an optional leading +, Indonesian 08.. and 628.. as +628..;
    None when there is none. Raises RuleError for something that is not a number."""
    if raw is None or not str(raw).strip():
        return None
    s = _NUMBER_JUNK.sub("", str(raw).strip())
    if s.startswith("0") and not s.startswith("00"):
        s = "+62" + s[1:]
    elif s.startswith("00"):
        s = "+" + s[2:]
    elif s.startswith("62") and len(s) >= INTERNATIONAL_MIN_DIGITS:
        # 62812... is +62812... without its plus (SMS senders of unknown type of number); no
        # Indonesian national number starts with 62, and short codes (112, 110) are shorter.
        s = "+" + s
    digits = s[1:] if s.startswith("+") else s
    if not digits.isdigit() or not 3 <= len(digits) <= 15:
        raise RuleError("bad_number", f"{mask_phone(str(raw))!r} is not a phone number (3-15 digits)")
    return s


def usable_number(raw: str | None) -> str | None:
    """normalize_number for a sender the center does not choose (SMS, AML): None instead of an
    error, so a report from an odd sender (an operator's alphanumeric name) is never lost."""
    try:
        return normalize_number(raw)
    except RuleError:
        return None


def shown_number(number: str | None, full: bool = False) -> str | None:
    """The one place a caller's number is made fit for output: in full only where the reader may
    call back, masked (+62812*****890) everywhere else."""
    if number is None:
        return None
    return number if full else mask_phone(number)


def number_flag(count: int, last_at: float | None, threshold: int) -> dict:
    """Why a number is (or is not) flagged, as the operator sees it."""
    return {"count": count, "last_prank_at": last_at, "flagged": prank.flagged(count, threshold),
            "threshold": threshold}
