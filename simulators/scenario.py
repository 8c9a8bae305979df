"""Scenario files: a city, its stations and units, buttons at sites, and a timeline of events.

    from simulators.scenario import load, ScenarioError
    sc = load("simulators/scenarios/bandung.yaml")       # raises ScenarioError naming file:line
    sc.buttons[0].lat_udeg, sc.stations["rs-hasan-sadikin"].agency, sc.timeline[0].at

YAML (see simulators/scenarios/bandung.yaml and docs/city.md for every key):

    name, duration_s, speedup     the scenario, its length in scenario seconds, suggested acceleration
    city                          {name, geojson: <dir relative to this file>} and/or {stations: [...]}
    stations                      extra stations: {id, name, agency, lat, lon}
    units                         {callsign, agency, type, home, capabilities, speed: {cruise_kmh, siren_kmh}}
    buttons                       {id, site, kind, lat, lon, category | keys: {key: category}}
    timeline                      [{at, event, ...}] in non-decreasing `at`; events: alarm, prank, stuck,
                                  tamper, broker_outage, unit_out_of_service, rush_hour
    generate                      (scale scenarios) counts + seed; expanded into buttons/units/alarms

Coordinates are decimal degrees in YAML (readable) and microdegrees once loaded (`lat_udeg`), as the
wire protocol carries them. Every error names the line: "bandung.yaml:42: unit 'AMB-03' home station
'rs-xyz' is not a station".
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fleet_server.domain.jurisdiction import Jurisdiction, JurisdictionError
from fleet_server.domain.units import UNIT_TYPES
from protocols.messages import CATEGORIES
from protocols.topics import valid_device_id

Agency = Literal["police", "fire", "medical", "sar", "disaster"]
Category = Literal[CATEGORIES]  # type: ignore[valid-type]
# One vocabulary with the server: a scenario's unit type is what POST /api/v1/units accepts.
UnitType = Literal[UNIT_TYPES]  # type: ignore[valid-type]
SiteKind = Literal["park", "school", "campus", "market", "mall", "terminal", "station", "street", "square",
                   "office", "hospital", "mosque", "stadium", "river", "residential"]
# Which agencies may field each unit type (the rescue truck is the generic one several agencies own).
UNIT_AGENCIES = {"ambulance": ("medical",), "fire_truck": ("fire",), "police_car": ("police",),
                 "motorbike": ("police", "medical"), "sar_boat": ("sar", "disaster"),
                 "rescue_truck": ("sar", "fire", "disaster")}
assert set(UNIT_AGENCIES) == set(UNIT_TYPES), "every server unit type needs its agencies here"
DeviceId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
Lat = Annotated[float, Field(ge=-90, le=90)]
Lon = Annotated[float, Field(ge=-180, le=180)]
Seconds = Annotated[float, Field(ge=0, le=7 * 86400)]
Duration = Annotated[float, Field(gt=0, le=7 * 86400)]


def udeg(deg: float) -> int:
    return int(round(deg * 1_000_000))


class _Model(BaseModel):
    # strict: "5" is not 5 and "yes" is not true; extra keys are typos, not silently ignored.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Station(_Model):
    id: Annotated[str, Field(min_length=1, max_length=64)]
    name: Annotated[str, Field(min_length=1)]
    agency: Agency
    lat: Lat
    lon: Lon

    @property
    def lat_udeg(self) -> int:
        return udeg(self.lat)

    @property
    def lon_udeg(self) -> int:
        return udeg(self.lon)


class City(_Model):
    name: str = "unnamed city"
    geojson: str | None = None
    stations: list[Station] = []

    @model_validator(mode="after")
    def _has_stations(self):
        if self.geojson is None and not self.stations:
            raise ValueError("a city needs `geojson` (a directory of station areas) or inline `stations`")
        return self


class SpeedProfile(_Model):
    cruise_kmh: Annotated[float, Field(gt=0, le=200)]
    siren_kmh: Annotated[float, Field(gt=0, le=200)]

    @model_validator(mode="after")
    def _siren_not_slower(self):
        if self.siren_kmh < self.cruise_kmh:
            raise ValueError("siren_kmh must not be below cruise_kmh")
        return self


class Unit(_Model):
    callsign: Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9-]{1,15}$")]
    agency: Agency
    type: UnitType
    home: str
    capabilities: list[Annotated[str, Field(min_length=1, max_length=32)]] = []
    speed: SpeedProfile
    tracker: DeviceId | None = None

    @property
    def tracker_id(self) -> str:
        return self.tracker or "trk-" + self.callsign.lower()


class Button(_Model):
    id: DeviceId
    site: Annotated[str, Field(min_length=1, max_length=80)]
    kind: SiteKind
    lat: Lat
    lon: Lon
    category: Category | None = None
    keys: dict[Annotated[str, Field(min_length=1, max_length=16)], Category] | None = None

    @model_validator(mode="after")
    def _one_category_source(self):
        if (self.category is None) == (self.keys is None):
            raise ValueError("a button needs exactly one of `category` or `keys` (per-key categories)")
        if self.keys is not None and not self.keys:
            raise ValueError("`keys` must name at least one key")
        return self

    @property
    def lat_udeg(self) -> int:
        return udeg(self.lat)

    @property
    def lon_udeg(self) -> int:
        return udeg(self.lon)


class _Event(_Model):
    at: Seconds


class Alarm(_Event):
    event: Literal["alarm"]
    button: str
    key: str | None = None
    category: Category | None = None
    presses: Annotated[int, Field(ge=1, le=100)] = 1


class Prank(_Event):
    """An alarm the operator later closes as a prank."""
    event: Literal["prank"]
    button: str
    key: str | None = None
    category: Category | None = None
    close_after_s: Duration = 30


class Stuck(_Event):
    """The button reads pressed for duration_s: exactly one alarm, then a stuck flag in health."""
    event: Literal["stuck"]
    button: str
    duration_s: Duration


class Tamper(_Event):
    event: Literal["tamper"]
    button: str


class BrokerOutage(_Event):
    event: Literal["broker_outage"]
    duration_s: Duration


class UnitOutOfService(_Event):
    event: Literal["unit_out_of_service"]
    unit: str
    duration_s: Duration | None = None  # None: for the rest of the scenario


class RushHour(_Event):
    event: Literal["rush_hour"]
    duration_s: Duration
    speed_factor: Annotated[float, Field(gt=0, le=1)]


Event = Annotated[Union[Alarm, Prank, Stuck, Tamper, BrokerOutage, UnitOutOfService, RushHour],
                  Field(discriminator="event")]


class GenerateButtons(_Model):
    count: Annotated[int, Field(ge=0, le=200_000)]
    prefix: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,16}$")] = "btn-gen"
    kinds: list[SiteKind] = ["park", "school", "market", "terminal", "street"]
    categories: dict[Category, Annotated[float, Field(gt=0)]] = {"police": 1.0}


class GenerateUnits(_Model):
    count: Annotated[int, Field(ge=0, le=50_000)]
    mix: dict[UnitType, Annotated[float, Field(gt=0)]] = {"ambulance": 1.0}


class GenerateAlarms(_Model):
    per_minute: Annotated[float, Field(ge=0, le=100_000)]
    prank_ratio: Annotated[float, Field(ge=0, le=1)] = 0.0


class Generate(_Model):
    seed: int
    buttons: GenerateButtons | None = None
    units: GenerateUnits | None = None
    alarms: GenerateAlarms | None = None


class ScenarioFile(_Model):
    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    duration_s: Duration
    speedup: Annotated[float, Field(ge=1, le=1000)] = 1
    city: City
    stations: list[Station] = []
    units: list[Unit] = []
    buttons: list[Button] = []
    timeline: list[Event] = []
    generate: Generate | None = None


class Scenario:
    """A loaded, cross-checked scenario; generated parts already expanded."""

    def __init__(self, source: Path, spec: ScenarioFile, stations: dict[str, Station],
                 jurisdiction: Jurisdiction | None):
        self.source = source
        self.spec = spec
        self.name = spec.name
        self.duration_s = spec.duration_s
        self.speedup = spec.speedup
        self.stations = stations
        self.jurisdiction = jurisdiction
        self.units: list[Unit] = list(spec.units)
        self.buttons: list[Button] = list(spec.buttons)
        self.timeline: list = list(spec.timeline)
        self._buttons_index: dict[str, Button] | None = None
        self._units_index: dict[str, Unit] | None = None

    def button(self, button_id: str) -> Button:
        return self._buttons_by_id()[button_id]

    def unit(self, callsign: str) -> Unit:
        if self._units_index is None:
            self._units_index = {u.callsign: u for u in self.units}
        return self._units_index[callsign]

    def _buttons_by_id(self) -> dict[str, Button]:
        # Built on first use, which is after generated buttons are added (the lists are final then).
        if self._buttons_index is None:
            self._buttons_index = {b.id: b for b in self.buttons}
        return self._buttons_index

    def alarm_category(self, event: Alarm | Prank) -> str:
        """The category the button sends for this event: the event's, the pressed key's, or the button's."""
        if event.category:
            return event.category
        b = self.button(event.button)
        if event.key is not None:
            return b.keys[event.key]
        return b.category


class ScenarioError(ValueError):
    """One or more problems, each as "file:line: reason"."""

    def __init__(self, problems: list[tuple[str, int | None, str]]):
        self.problems = problems
        super().__init__("\n".join(f"{f}:{line}: {msg}" if line else f"{f}: {msg}" for f, line, msg in problems))


# -- YAML with line numbers -------------------------------------------------------------------
class _Located:
    """Plain data from YAML plus the 1-based line of every value, by path (("units", 3, "home"))."""

    def __init__(self, text: str, name: str):
        self.name = name
        self.lines: dict[tuple, int] = {}
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            self.data = self._build(loader, node, ()) if node is not None else None
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            msg = f"YAML: {e.problem or e}"
            if e.context and e.context_mark is not None and e.context_mark is not mark:
                # An unclosed bracket is noticed lines later; say where it opened too.
                msg += f" ({e.context} on line {e.context_mark.line + 1})"
            raise ScenarioError([(name, mark.line + 1 if mark else None, msg)]) from None
        except yaml.YAMLError as e:
            raise ScenarioError([(name, None, f"YAML: {e}")]) from None
        finally:
            loader.dispose()

    def _build(self, loader, node, path: tuple) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            loader.flatten_mapping(node)  # merge keys (<<) like PyYAML's own constructor
            out = {}
            for knode, vnode in node.value:
                key = loader.construct_object(knode, deep=True)
                if not isinstance(key, (str, int, float, bool)) or key is None:
                    raise ScenarioError([(self.name, knode.start_mark.line + 1, f"mapping key {key!r} must be a scalar")])
                if key in out:
                    raise ScenarioError([(self.name, knode.start_mark.line + 1,
                                          f"duplicate key {key!r} (first on line {self.lines[path + (key,)]})")])
                self.lines[path + (key,)] = knode.start_mark.line + 1
                out[key] = self._build(loader, vnode, path + (key,))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self._build(loader, item, path + (i,)) for i, item in enumerate(node.value)]
        return loader.construct_object(node, deep=True)

    def path(self, loc: tuple) -> tuple:
        """The parts of `loc` that exist in the data: pydantic locs also carry union tags ("rush_hour")."""
        cur, path = self.data, ()
        for part in loc:
            if isinstance(cur, dict) and part in cur:
                cur, path = cur[part], path + (part,)
            elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
                cur, path = cur[part], path + (part,)
            elif isinstance(part, str) and isinstance(cur, dict) and part == loc[-1]:
                path = path + (part,)  # a missing or extra key: name it, though it has no line of its own
        return path

    def line(self, loc: tuple) -> int | None:
        path = self.path(loc)
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path)


def _loc_text(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# -- loading ----------------------------------------------------------------------------------
def load(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError([(path.name, None, f"cannot read: {e}")]) from None
    return loads(text, name=path.name, base=path.parent)


def loads(text: str, name: str = "<scenario>", base: str | Path = ".") -> Scenario:
    doc = _Located(text, name)
    if not isinstance(doc.data, dict):
        raise ScenarioError([(name, doc.lines.get(()), "a scenario must be a YAML mapping")])
    try:
        spec = ScenarioFile.model_validate(doc.data)
    except ValidationError as e:
        problems = []
        for err in e.errors(include_url=False):
            loc = tuple(err["loc"])
            where = _loc_text(doc.path(loc))
            msg = err["msg"]
            if err["type"] not in ("missing", "extra_forbidden") and isinstance(err.get("input"), (str, int, float, bool)):
                msg += f" (got {err['input']!r})"
            problems.append((name, doc.line(loc), f"{where}: {msg}" if where else msg))
        raise ScenarioError(problems) from None
    return _cross_check(spec, doc, Path(base))


def _cross_check(spec: ScenarioFile, doc: _Located, base: Path) -> Scenario:
    problems: list[tuple[str, int | None, str]] = []

    def bad(loc: tuple, msg: str) -> None:
        problems.append((doc.name, doc.line(loc), msg))

    jurisdiction = None
    stations: dict[str, Station] = {}
    if spec.city.geojson is not None:
        try:
            jurisdiction = Jurisdiction.load(base / spec.city.geojson)
        except JurisdictionError as e:
            bad(("city", "geojson"), f"city geojson {spec.city.geojson!r}: {e}")
        else:
            for f in jurisdiction.areas():
                p = f["properties"]
                stations[p["id"]] = Station(id=p["id"], name=p["name"], agency=p["agency"],
                                            lat=p["station"]["lat"] / 1e6, lon=p["station"]["lon"] / 1e6)
    for key, items in ((("city", "stations"), spec.city.stations), (("stations",), spec.stations)):
        for i, st in enumerate(items):
            if st.id in stations:
                bad(key + (i, "id"), f"duplicate station id {st.id!r}")
            stations[st.id] = st

    scenario = Scenario(base / doc.name, spec, stations, jurisdiction)
    if spec.generate is not None:
        _expand(scenario, spec.generate, bad)

    seen_units: dict[str, int] = {}
    for i, u in enumerate(spec.units):
        if u.callsign in seen_units:
            bad(("units", i, "callsign"), f"duplicate unit callsign {u.callsign!r} (also units[{seen_units[u.callsign]}])")
        seen_units.setdefault(u.callsign, i)
        if u.agency not in UNIT_AGENCIES[u.type]:
            bad(("units", i, "type"), f"unit {u.callsign!r}: type {u.type} cannot belong to agency {u.agency} "
                                      f"(only {', '.join(UNIT_AGENCIES[u.type])})")
        home = stations.get(u.home)
        if home is None:
            bad(("units", i, "home"), f"unit {u.callsign!r} home station {u.home!r} is not a station")
        elif home.agency != u.agency:
            bad(("units", i, "home"), f"unit {u.callsign!r} ({u.agency}) home station {u.home!r} "
                                      f"belongs to {home.agency}")

    device_ids: dict[str, str] = {u.tracker_id: f"unit {u.callsign!r}" for u in spec.units}
    for i, b in enumerate(spec.buttons):
        if b.id in device_ids:
            bad(("buttons", i, "id"), f"duplicate device id {b.id!r} (also {device_ids[b.id]})")
        device_ids.setdefault(b.id, f"buttons[{i}]")
        if jurisdiction is not None and jurisdiction.locate(b.lat_udeg, b.lon_udeg, "police") is None:
            bad(("buttons", i, "lat"), f"button {b.id!r} at {b.lat}, {b.lon} is outside every station area")

    for b in scenario.buttons[len(spec.buttons):]:
        if b.id in device_ids:
            bad(("generate", "buttons", "prefix"), f"generated button id {b.id!r} is already {device_ids[b.id]}")
    buttons = scenario._buttons_by_id()
    units = {u.callsign for u in scenario.units}
    last = 0.0
    for i, ev in enumerate(spec.timeline):
        if ev.at < last:
            bad(("timeline", i, "at"), f"time goes backwards: at {ev.at:g} s comes after an event at {last:g} s")
        last = max(last, ev.at)
        if ev.at > spec.duration_s:
            bad(("timeline", i, "at"), f"event at {ev.at:g} s is after the scenario ends ({spec.duration_s:g} s)")
        if hasattr(ev, "button") and ev.button not in buttons:
            bad(("timeline", i, "button"), f"{ev.event}: button {ev.button!r} is not a button")
        elif isinstance(ev, (Alarm, Prank)):
            b = buttons[ev.button]
            if ev.key is not None and (b.keys is None or ev.key not in b.keys):
                bad(("timeline", i, "key"), f"{ev.event}: button {b.id!r} has no key {ev.key!r}")
            elif b.keys is not None and ev.key is None and ev.category is None:
                bad(("timeline", i), f"{ev.event}: button {b.id!r} has several keys; say which `key` is pressed")
        if isinstance(ev, UnitOutOfService) and ev.unit not in units:
            bad(("timeline", i, "unit"), f"unit_out_of_service: unit {ev.unit!r} is not a unit")
    if problems:
        raise ScenarioError(problems)
    return scenario


# -- generated (scale) scenarios --------------------------------------------------------------
def _weighted(rng: random.Random, weights: dict) -> str:
    keys = sorted(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _expand(sc: Scenario, gen: Generate, bad) -> None:
    """Deterministic from the seed: same file, same city, same devices and times."""
    rng = random.Random(gen.seed)
    if gen.buttons is not None and gen.buttons.count:
        j = sc.jurisdiction
        if j is None:
            bad(("generate", "buttons"), "generated buttons need `city.geojson` to place them inside the city")
        else:
            xs = [s.lon for s in sc.stations.values()]
            ys = [s.lat for s in sc.stations.values()]
            box = (min(ys) - 0.03, max(ys) + 0.03, min(xs) - 0.03, max(xs) + 0.03)
            made, tries = 0, 0
            while made < gen.buttons.count and tries < gen.buttons.count * 20:  # bounded rejection sampling
                tries += 1
                lat, lon = round(rng.uniform(box[0], box[1]), 6), round(rng.uniform(box[2], box[3]), 6)
                area = j.locate(udeg(lat), udeg(lon), "police")
                if area is None:
                    continue
                made += 1
                kind = rng.choice(gen.buttons.kinds)
                sc.buttons.append(Button(id=f"{gen.buttons.prefix}-{made:06d}", site=f"{kind} {made} ({area['name']})",
                                         kind=kind, lat=lat, lon=lon,
                                         category=_weighted(rng, gen.buttons.categories)))
            if made < gen.buttons.count:
                bad(("generate", "buttons"), f"placed only {made} of {gen.buttons.count} buttons inside the city")
    if gen.units is not None and gen.units.count:
        homes: dict[str, list[Station]] = {}
        for st in sorted(sc.stations.values(), key=lambda s: s.id):
            homes.setdefault(st.agency, []).append(st)
        for n in range(1, gen.units.count + 1):
            utype = _weighted(rng, gen.units.mix)
            agency = next((a for a in UNIT_AGENCIES[utype] if a in homes), None)
            if agency is None:
                bad(("generate", "units", "mix"), f"no station can be home to a {utype}")
                return
            home = rng.choice(homes[agency])
            cruise = rng.choice((30.0, 35.0, 40.0, 45.0))
            sc.units.append(Unit(callsign=f"G{utype[:3].upper()}-{n:05d}", agency=agency, type=utype, home=home.id,
                                 speed=SpeedProfile(cruise_kmh=cruise, siren_kmh=cruise * 1.6)))
    if gen.alarms is not None and gen.alarms.per_minute and sc.buttons:
        count = int(gen.alarms.per_minute * sc.duration_s / 60)
        times = sorted(rng.uniform(0, sc.duration_s) for _ in range(count))
        generated = []
        for t in times:
            b = rng.choice(sc.buttons)
            category = b.category or sorted(b.keys.values())[0]
            if rng.random() < gen.alarms.prank_ratio:
                generated.append(Prank(at=round(t, 3), event="prank", button=b.id, category=category))
            else:
                generated.append(Alarm(at=round(t, 3), event="alarm", button=b.id, category=category))
        sc.timeline = sorted(sc.timeline + generated, key=lambda e: e.at)
