"""Call-taking: a 112 call recorded while the call-taker is still on the phone, and the caller's
history shown as soon as the number is typed. Pure rules: the service
(fleet_server/domain/service.py) applies them inside its transactions and reads the history
through the store's ports.

A caller is a number: phone, SMS and AML reports from one number are one caller, whichever way the
number was written (+62812..., 62812..., 0812...; center.normalize_number makes them one).
"""
from __future__ import annotations

from fleet_server.domain import center, classification

KINDS = ("emergency", "report")          # an emergency for the queue, a non-emergency for the desk
LOCATED_BY = ("map", "site", "aml", "none")
HISTORY_LIMIT = 20
SUMMARY_SHOWN = 160                      # characters of an earlier report's text in the history


def number_variants(number: str | None) -> list[str]:
    """Every form one normalized number may have been stored in: +62812..., and the 62812... of
    servers that kept an SMS sender without its plus. [] for no number."""
    if not number:
        return []
    if number.startswith("+62"):
        return [number, number[1:]]
    return [number]


def check_call(kind: str, category: str, summary: str | None, located_by: str, lat_udeg: int | None,
               lon_udeg: int | None, site: str | None) -> str:
    """The report's text, trimmed; raises center.RuleError with the reason."""
    if kind not in KINDS:
        raise center.RuleError("bad_kind", f"a call is one of {', '.join(KINDS)}, not {kind!r}")
    if category not in classification.AGENCIES:
        raise center.RuleError("bad_category",
                               f"category {category!r} is not one of {', '.join(classification.AGENCIES)}")
    text = (summary or "").strip()
    if not text:
        raise center.RuleError("text_needed", "a call needs what the caller said")
    if located_by not in LOCATED_BY:
        raise center.RuleError("bad_location", f"located by one of {', '.join(LOCATED_BY)}, not {located_by!r}")
    if located_by in ("map", "site") and (lat_udeg is None or lon_udeg is None):
        raise center.RuleError("location_needed", f"a location by {located_by} needs its coordinates")
    if located_by == "site" and not (site or "").strip():
        raise center.RuleError("site_needed", "a location by known site needs the site's name")
    return text


def priority(category: str, number_flagged: bool) -> int:
    """A person on the line is as urgent as a person pressing a button (P1; P2 until triage
    names the service), one step lower for a number flagged for pranks."""
    return classification.priority(category, "button", number_flagged)


def last_fix(incidents: list) -> dict | None:
    """The newest AML handset fix among a caller's incidents (newest first), or None."""
    for inc in incidents:
        if inc.channel == "aml" and inc.lat_udeg is not None and inc.lon_udeg is not None:
            return {"incident": inc.id, "lat_udeg": inc.lat_udeg, "lon_udeg": inc.lon_udeg,
                    "source": inc.loc_source, "acc_m": inc.loc_acc_m, "at": inc.received_at}
    return None


def located_note(located_by: str, site: str | None, fix: dict | None) -> str:
    """How the call-taker placed the incident, for the audit trail."""
    if located_by == "site":
        return f"located at known site {site}"
    if located_by == "map":
        return "located on the map"
    if located_by == "aml" and fix is not None:
        return f"located by the caller's AML fix (incident {fix['incident']}, ±{fix['acc_m']} m)"
    if site:
        return f"location as told: {site} (not placed)"
    return "no location"


def history(number: str | None, incidents: list, pranks: list[tuple[int, str, float]], threshold: int) -> dict:
    """The caller's earlier reports (newest first) with their outcomes, whether the number is
    flagged and why (the prank ledger's entries), and the last AML fix. Numbers in full: the
    caller of this masks them for whoever may not call back."""
    counted = {i for i, _k, _at in pranks}
    rows = [{"id": inc.id, "type": inc.type, "channel": inc.channel, "category": inc.category,
             "agency": inc.agency, "state": inc.state, "outcome": inc.state,
             "closure_reason": inc.closure_reason,
             "received_at": inc.received_at, "closed_at": inc.closed_at,
             "summary": (inc.summary or "")[:SUMMARY_SHOWN], "reporter": inc.reporter, "caller": inc.caller_number,
             "station": {"id": inc.station_id, "name": inc.station_name, "parent": inc.station_parent},
             "site": inc.site, "prank": inc.id in counted}
            for inc in incidents]
    last = max((at for _i, _k, at in pranks), default=None)
    flag = center.number_flag(len(pranks), last, threshold)
    flag["why"] = [{"incident": i, "kind": k, "at": at} for i, k, at in pranks]
    return {"number": number, "reports": rows, "flag": flag, "last_fix": last_fix(incidents)}
