"""Which station's area holds a point: station areas as GeoJSON polygons, one STRtree per agency.

    j = Jurisdiction.load("fleet_server/data/bandung")          # a directory of *.geojson or one file
    j.locate(-6902500, 107618800, "police")
    # {"id": "polsek-bandung-wetan", "name": "Polsek Bandung Wetan", "agency": "police",
    #  "level": "polsek", "parent": {"id": "polrestabes-bandung", ...}, "chain": ["polrestabes-bandung",
    #  "polsek-bandung-wetan"], "station": {"lat": -6900500, "lon": 107625000}}

Areas nest (Polrestabes > Polsek): `locate` answers the deepest area containing the point. Every
area Feature needs the properties id, name, agency, level, parent (id or null), station {lat, lon}.
Features without an agency (the city outline, the command center point) are kept as `sites`.
Bad files raise `JurisdictionError` naming the file and feature; points arrive as integer
microdegrees, as the wire protocol carries them.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import shapely
from shapely.geometry import shape
from shapely.strtree import STRtree

AGENCIES = ("police", "fire", "medical", "sar", "disaster")
REQUIRED = ("id", "name", "agency", "level", "parent", "station")
UDEG = 1_000_000
# A sliver this small between siblings is rounding on the microdegree grid, not a real overlap.
OVERLAP_TOLERANCE_M2 = 100.0
# Approximate m² per square degree near the equator (1° ≈ 111.32 km); Bandung is at 7° S.
_M2_PER_DEG2 = (111_320.0 ** 2) * math.cos(math.radians(7.0))


class JurisdictionError(ValueError):
    """A GeoJSON area file that cannot be used, with the reason."""


def _udeg(v: float) -> int:
    return int(round(v * UDEG))


def _check_point_udeg(lat: object, lon: object) -> None:
    if type(lat) is not int or type(lon) is not int:
        raise ValueError(f"lat/lon must be integer microdegrees, got {lat!r}, {lon!r}")
    if not (-90 * UDEG <= lat <= 90 * UDEG and -180 * UDEG <= lon <= 180 * UDEG):
        raise ValueError(f"lat/lon out of range: {lat}, {lon}")


class Area:
    __slots__ = ("id", "name", "agency", "level", "parent_id", "station", "geometry", "source", "depth")

    def __init__(self, props: dict, geometry, source: str):
        self.id = props["id"]
        self.name = props["name"]
        self.agency = props["agency"]
        self.level = props["level"]
        self.parent_id = props["parent"]
        self.station = {"lat": _udeg(props["station"]["lat"]), "lon": _udeg(props["station"]["lon"])}
        self.geometry = geometry
        self.source = source
        self.depth = 0

    def summary(self) -> dict:
        return {"id": self.id, "name": self.name, "agency": self.agency, "level": self.level}


class Jurisdiction:
    def __init__(self, areas: list[Area], sites: list[dict]):
        self._areas = {a.id: a for a in areas}
        self._sites = sites
        self._trees: dict[str, tuple[STRtree, list[Area]]] = {}
        for agency in AGENCIES:
            mine = [a for a in areas if a.agency == agency]
            if mine:
                self._trees[agency] = (STRtree([a.geometry for a in mine]), mine)
        for a in areas:
            shapely.prepare(a.geometry)

    # -- loading -------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> "Jurisdiction":
        path = Path(path)
        if path.is_dir():
            files = sorted(path.glob("*.geojson"))
            if not files:
                raise JurisdictionError(f"{path}: no *.geojson files")
        elif path.is_file():
            files = [path]
        else:
            raise JurisdictionError(f"{path}: no such file or directory")
        areas: list[Area] = []
        sites: list[dict] = []
        for f in files:
            _read_file(f, areas, sites)
        _check_tree(areas)
        return cls(areas, sites)

    # -- queries -------------------------------------------------------------------------------
    def locate(self, lat_udeg: int, lon_udeg: int, agency: str) -> dict | None:
        """The deepest `agency` area containing the point (edges count), or None outside them all."""
        _check_point_udeg(lat_udeg, lon_udeg)
        if agency not in AGENCIES:
            raise ValueError(f"unknown agency {agency!r}; expected one of {', '.join(AGENCIES)}")
        found = self._trees.get(agency)
        if found is None:
            return None
        tree, areas = found
        point = shapely.Point(lon_udeg / UDEG, lat_udeg / UDEG)
        hits = tree.query(point, predicate="intersects")
        if len(hits) == 0:
            return None
        # On a shared edge two siblings match; the smaller id wins so the answer is stable.
        best = min((areas[i] for i in hits), key=lambda a: (-a.depth, a.id))
        return self._describe(best)

    def areas(self, agency: str | None = None) -> list[dict]:
        """Every area as a GeoJSON Feature (geometry included), for the console map and the scenarios."""
        if agency is not None and agency not in AGENCIES:
            raise ValueError(f"unknown agency {agency!r}")
        out = []
        for a in self._areas.values():
            if agency is None or a.agency == agency:
                out.append({"type": "Feature", "id": a.id,
                            "properties": {**a.summary(), "parent": a.parent_id,
                                           "station": dict(a.station), "depth": a.depth},
                            "geometry": shapely.geometry.mapping(a.geometry)})
        return sorted(out, key=lambda f: (f["properties"]["agency"], f["properties"]["depth"], f["id"]))

    def area(self, area_id: str) -> dict | None:
        a = self._areas.get(area_id)
        return self._describe(a) if a else None

    def regency(self, lat_udeg: int, lon_udeg: int) -> str | None:
        """The name of the regency or city (kabupaten / kota: a site of level "regency" or "city")
        holding the point, None outside them all."""
        if not hasattr(self, "_regencies"):
            self._regencies = [(s["name"] or s["id"], shape(s["geometry"])) for s in self._sites
                               if s.get("level") in ("regency", "city") and s.get("geometry")]
        point = shapely.Point(lon_udeg / UDEG, lat_udeg / UDEG)
        return next((name for name, geom in self._regencies if geom.covers(point)), None)

    def sites(self) -> list[dict]:
        """Features without an agency: the city outline, the command center."""
        return list(self._sites)

    def _describe(self, a: Area) -> dict:
        chain = []
        cur: Area | None = a
        while cur is not None:
            chain.append(cur.id)
            cur = self._areas.get(cur.parent_id) if cur.parent_id else None
        parent = self._areas.get(a.parent_id) if a.parent_id else None
        return {**a.summary(), "parent": parent.summary() if parent else None, "chain": chain[::-1],
                "station": dict(a.station)}


# -- validation ------------------------------------------------------------------------------
def _read_file(f: Path, areas: list[Area], sites: list[dict]) -> None:
    try:
        doc = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise JurisdictionError(f"{f.name}: not readable GeoJSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise JurisdictionError(f"{f.name}: not a GeoJSON FeatureCollection")
    for n, feat in enumerate(doc["features"]):
        where = f"{f.name}: feature {n}"
        if not isinstance(feat, dict) or not isinstance(feat.get("properties"), dict):
            raise JurisdictionError(f"{where}: not a Feature with properties")
        props = feat["properties"]
        if isinstance(props.get("id"), str):
            where = f"{f.name}: feature {n} ({props['id']!r})"
        try:
            geom = shape(feat.get("geometry"))
        except Exception as e:  # shapely raises several types for malformed geometry
            raise JurisdictionError(f"{where}: bad geometry: {e}") from None
        if "agency" not in props:
            sites.append({"id": props.get("id"), "name": props.get("name"), "level": props.get("level"),
                          "geometry": shapely.geometry.mapping(geom)})
            continue
        _check_props(props, where)
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise JurisdictionError(f"{where}: an area must be a Polygon or MultiPolygon, not {geom.geom_type}")
        if geom.is_empty or not geom.is_valid:
            raise JurisdictionError(f"{where}: invalid polygon: {shapely.is_valid_reason(geom)}")
        areas.append(Area(props, geom, f.name))


def _check_props(props: dict, where: str) -> None:
    missing = [k for k in REQUIRED if k not in props]
    if missing:
        raise JurisdictionError(f"{where}: missing properties: {', '.join(missing)}")
    for k in ("id", "name", "level"):
        if not isinstance(props[k], str) or not props[k]:
            raise JurisdictionError(f"{where}: property {k!r} must be a non-empty string")
    if props["agency"] not in AGENCIES:
        raise JurisdictionError(f"{where}: agency {props['agency']!r} is not one of {', '.join(AGENCIES)}")
    if props["parent"] is not None and not isinstance(props["parent"], str):
        raise JurisdictionError(f"{where}: parent must be an area id or null")
    st = props["station"]
    ok = (isinstance(st, dict) and all(type(st.get(k)) in (int, float) for k in ("lat", "lon"))
          and -90 <= st["lat"] <= 90 and -180 <= st["lon"] <= 180)
    if not ok:
        raise JurisdictionError(f"{where}: station must be {{lat, lon}} in decimal degrees")


def _check_tree(areas: list[Area]) -> None:
    by_id: dict[str, Area] = {}
    for a in areas:
        if a.id in by_id:
            raise JurisdictionError(f"{a.source}: duplicate area id {a.id!r} (also in {by_id[a.id].source})")
        by_id[a.id] = a
    for a in areas:
        seen = {a.id}
        cur = a
        while cur.parent_id is not None:
            parent = by_id.get(cur.parent_id)
            if parent is None:
                raise JurisdictionError(f"{cur.source}: area {cur.id!r} has unknown parent {cur.parent_id!r}")
            if parent.agency != cur.agency:
                raise JurisdictionError(f"{cur.source}: area {cur.id!r} ({cur.agency}) has parent "
                                        f"{parent.id!r} of another agency ({parent.agency})")
            if parent.id in seen:
                raise JurisdictionError(f"{a.source}: area {a.id!r} is in a parent cycle")
            seen.add(parent.id)
            cur = parent
        a.depth = len(seen) - 1
    siblings: dict[tuple[str, str | None], list[Area]] = {}
    for a in areas:
        siblings.setdefault((a.agency, a.parent_id), []).append(a)
        if a.parent_id is not None:
            outside = a.geometry.difference(by_id[a.parent_id].geometry).area * _M2_PER_DEG2
            if outside > OVERLAP_TOLERANCE_M2:
                raise JurisdictionError(f"{a.source}: area {a.id!r} reaches {outside:.0f} m² outside its "
                                        f"parent {a.parent_id!r}")
    for group in siblings.values():
        tree = STRtree([a.geometry for a in group])
        for i, a in enumerate(group):
            for j in tree.query(a.geometry, predicate="intersects"):
                if j <= i:
                    continue
                b = group[j]
                overlap = a.geometry.intersection(b.geometry).area * _M2_PER_DEG2
                if overlap > OVERLAP_TOLERANCE_M2:
                    raise JurisdictionError(f"{a.source}: sibling areas {a.id!r} and {b.id!r} overlap "
                                            f"by {overlap:.0f} m²")
