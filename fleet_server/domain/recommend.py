"""Recommend the top units for an incident: available, of the incident's agency, with a fresh and
accurate fix, ranked by ETA. Every pick says why it was picked, and the nearer units that were
passed over say why they were (out of service, busy, stale fix, wrong agency...)."""
from __future__ import annotations

import time
from math import cos, radians
from dataclasses import asdict, dataclass, field

from fleet_server.domain.classification import AGENCIES as CLASSES
from fleet_server.domain.eta import EtaModel, GreatCircleEta
from fleet_server.domain.geo import haversine_m
from fleet_server.domain.tracking import Tracking
from fleet_server.domain.unit_grid import GridIndex
from fleet_server.domain.units import AGENCIES, Unit

# Exclusion codes, shown to the dispatcher.
OUT_OF_SERVICE = "out_of_service"
BUSY = "busy"
STALE_FIX = "stale_fix"
POOR_ACCURACY = "poor_accuracy"
WRONG_AGENCY = "wrong_agency"
HELD = "held"          # the caller excluded it: it declined, did not answer, or has an order pending


def agency_for_incident(category_or_agency: str) -> str | None:
    """Units are keyed by category (police, fire, medical, sar, disaster); the core's incidents
    may carry its agency codes (polri, damkar, ...): both are understood, from one table."""
    if category_or_agency in AGENCIES:
        return category_or_agency
    for category, a in CLASSES.items():
        if a["agency"] == category_or_agency and category in AGENCIES:
            return category
    return None


@dataclass(frozen=True)
class IncidentSite:
    id: int              # the incident id (the `inc` of the dispatch order)
    lat: int             # microdegrees
    lon: int
    category: str        # police | fire | medical | sar | disaster (or the core's agency code)
    prefer_types: tuple[str, ...] = ()   # the run card's unit types: ranked before the others


@dataclass(frozen=True)
class RecommenderConfig:
    k: int = 3
    max_fix_age_s: float = 120.0
    max_accuracy_m: int = 100
    max_radius_m: float = 150_000.0
    explain_excluded: int = 10      # how many passed-over units to name


@dataclass
class Pick:
    unit: str
    callsign: str
    type: str
    distance_m: float
    eta_s: float
    fix_age_s: float
    accuracy_m: int | None
    reasons: list[str] = field(default_factory=list)
    # The reasons as data, for a console that says them in its user's language.
    preferred_by_card: bool = False


@dataclass
class Recommendation:
    incident: int
    agency: str | None
    picks: list[Pick]
    excluded: list[dict]            # nearest passed-over units: unit, callsign, reason, distance_m
    excluded_counts: dict[str, int]
    searched_radius_m: float
    note: str = ""

    def public(self) -> dict:
        return asdict(self)


def _rough_m(lat1: int, lon1: int, lat2: int, lon2: int) -> float:
    # Equirectangular: within a fraction of a percent of haversine at city distances; only used to
    # pick which passed-over units to name (they are then measured exactly).
    dx = (lon2 - lon1) * _lon_scale(lat1)
    dy = lat2 - lat1
    return (dx * dx + dy * dy) ** 0.5 * 0.111195


def _lon_scale(lat: int) -> float:
    return cos(radians(lat * 1e-6))


class Recommender:
    def __init__(self, tracking: Tracking, eta: EtaModel | None = None, config: RecommenderConfig | None = None,
                 cell_udeg: int = 10_000):
        self.tracking = tracking
        self.eta = eta or GreatCircleEta()
        self.config = config or RecommenderConfig()
        self.index = GridIndex(cell_udeg)
        # The unit types each agency fields: the search stops on the slowest bound that can still
        # matter (a fire search need not look as far as if fire trucks were motorbikes).
        self._types: dict[str, set[str]] = {}
        for u in tracking.units():
            self._track(u)
        tracking.on_position(self._track)

    def _track(self, unit: Unit, *_ignored) -> None:
        self._types.setdefault(unit.agency, set()).add(unit.type)
        self.index.update(unit)

    def recommend(self, site: IncidentSite, now: float | None = None, held: dict[str, str] | None = None,
                  k: int | None = None) -> Recommendation:
        now = time.time() if now is None else now
        k = k or self.config.k
        held = held or {}
        c = self.config
        agency = agency_for_incident(site.category)
        if agency is None:
            return Recommendation(site.id, None, [], [], {}, 0.0,
                                  note=f"category {site.category!r} names no agency: triage decides who goes")
        types = self._types.get(agency) or {None}
        spm = min(self.eta.min_seconds_per_metre(t) for t in types)
        prefer = frozenset(site.prefer_types)
        # (rank, eta, distance, unit), kept sorted, at most k; rank 0: a type the run card proposes.
        best: list[tuple[int, float, float, Unit]] = []
        passed: list[tuple[Unit, str]] = []
        counts: dict[str, int] = {}
        searched = 0.0
        exclusion, eta_s, slat, slon = self._exclusion, self.eta.eta_s, site.lat, site.lon
        for bound, units in self.index.rings(slat, slon, c.max_radius_m):
            # Nothing farther can come sooner; with a preference, only once the k best are all preferred.
            if len(best) >= k and bound * spm > best[-1][1] and best[-1][0] == 0:
                break
            searched = bound
            for u in units:
                why = exclusion(u, agency, now, held)
                if why is not None:
                    # Distance later, and only for the few that are shown.
                    counts[why] = counts.get(why, 0) + 1
                    passed.append((u, why))
                    continue
                p = u.position
                d = haversine_m(slat, slon, p.lat, p.lon)
                eta = eta_s(u.type, d, p.lat, p.lon, slat, slon)
                rank = 0 if not prefer or u.type in prefer else 1
                if len(best) < k or (rank, eta) < best[-1][:2]:
                    best.append((rank, eta, d, u))
                    best.sort(key=lambda x: x[:2])
                    del best[k:]
        picks = [self._pick(eta, d, u, now, preferred=bool(prefer) and not rank) for rank, eta, d, u in best]
        horizon = max(b[2] for b in best) if len(best) >= k else float("inf")
        shown = sorted(((_rough_m(slat, slon, u.position.lat, u.position.lon), u, why) for u, why in passed),
                       key=lambda x: x[0])[:c.explain_excluded * 2]
        shown = sorted(((haversine_m(slat, slon, u.position.lat, u.position.lon), u, why) for _r, u, why in shown),
                       key=lambda x: x[0])
        excluded = [{"unit": u.id, "callsign": u.callsign, "agency": u.agency, "status": u.status,
                     "reason": self._explain(why, u, now, held), "code": why, "distance_m": round(d, 1)}
                    for d, u, why in shown if d <= horizon][:c.explain_excluded]
        note = "" if len(picks) >= k else f"only {len(picks)} eligible {agency} unit(s) within {c.max_radius_m / 1000:.0f} km"
        return Recommendation(site.id, agency, picks, excluded, counts, round(searched, 1), note)

    def _exclusion(self, u: Unit, agency: str, now: float, held: dict[str, str]) -> str | None:
        if u.agency != agency:
            return WRONG_AGENCY
        if u.status == "oos":
            return OUT_OF_SERVICE
        if u.status != "available":
            return BUSY
        if u.id in held:
            return HELD
        if now - u.position.ts > self.config.max_fix_age_s:
            return STALE_FIX
        if u.position.acc is not None and u.position.acc > self.config.max_accuracy_m:
            return POOR_ACCURACY
        return None

    def _explain(self, code: str, u: Unit, now: float, held: dict[str, str]) -> str:
        if code == WRONG_AGENCY:
            return f"belongs to {u.agency}"
        if code == OUT_OF_SERVICE:
            return "out of service"
        if code == BUSY:
            return f"busy ({u.status})"
        if code == HELD:
            return held[u.id]
        if code == STALE_FIX:
            return f"last fix {now - u.position.ts:.0f} s old (limit {self.config.max_fix_age_s:.0f} s)"
        return f"fix accuracy {u.position.acc} m (limit {self.config.max_accuracy_m} m)"

    def _pick(self, eta: float, d: float, u: Unit, now: float, preferred: bool = False) -> Pick:
        age = max(0.0, now - u.position.ts)
        acc = u.position.acc
        reasons = [f"{d / 1000:.2f} km straight line, ETA {eta / 60:.1f} min at the {u.type} speed profile",
                   f"available, fix {age:.0f} s old" + (f", ±{acc} m" if acc is not None else ", accuracy not reported")]
        if preferred:
            reasons.append(f"a {u.type}: a unit type the run card proposes")
        return Pick(u.id, u.callsign, u.type, round(d, 1), round(eta, 1), round(age, 1), acc, reasons, preferred)
