"""Rebuild the Bandung sample-city GeoJSON files from the hand-placed points below.

    .venv/bin/python -m fleet_server.data.bandung.generate

Why generated: hand-drawing 40 polygons that tile a city without gaps or overlaps is error-prone.
Instead every area is the union of Voronoi cells around a few hand-placed *seed* points inside the
kecamatan it stands for, clipped to an approximate city outline. Siblings then tile the outline
exactly (they share edges), and moving a seed is a reviewable one-line diff. Station points are the
approximate street addresses of the real offices; they are not seeds. See docs/city.md.
Coordinates below are (lat, lon) in decimal degrees; GeoJSON writes them as [lon, lat].
"""
from __future__ import annotations

import json
from pathlib import Path

import shapely
from shapely.geometry import MultiPoint, Polygon, mapping

HERE = Path(__file__).resolve().parent

# Kota Bandung, a coarse 21-point outline placed by hand from general knowledge of public maps (not
# derived from any boundary dataset): about 21 km east-west and 13 km north-south, Sukasari/Cidadap
# in the north to Bandung Kidul/Gedebage in the south; 187 km² against the official 167 km².
CITY_OUTLINE = [
    (-6.8450, 107.6100), (-6.8500, 107.5900), (-6.8650, 107.5750), (-6.8800, 107.5650),
    (-6.8950, 107.5520), (-6.9050, 107.5480), (-6.9300, 107.5530), (-6.9450, 107.5650),
    (-6.9550, 107.5850), (-6.9650, 107.6050), (-6.9650, 107.6300), (-6.9550, 107.6600),
    (-6.9600, 107.6850), (-6.9650, 107.7100), (-6.9550, 107.7350), (-6.9250, 107.7420),
    (-6.9050, 107.7350), (-6.8950, 107.7050), (-6.8850, 107.6800), (-6.8700, 107.6550),
    (-6.8550, 107.6300),
]

CITY = {"id": "kota-bandung", "name": "Kota Bandung"}

COMMAND_CENTER = {"id": "bcc", "name": "Bandung Command Center (Balai Kota, Jl. Wastukencana 2)",
                  "lat": -6.9110, "lon": 107.6097}

# (id, name, level, station (lat, lon), [seeds (lat, lon)])
POLICE_TOP = ("polrestabes-bandung", "Polrestabes Bandung", "polres", (-6.9115, 107.6100))
POLSEK = [
    ("polsek-sukasari", "Polsek Sukasari", (-6.8705, 107.5895), [(-6.8650, 107.5850), (-6.8800, 107.5800)]),
    ("polsek-cidadap", "Polsek Cidadap", (-6.8640, 107.6060), [(-6.8550, 107.6050), (-6.8680, 107.6120)]),
    ("polsek-sukajadi", "Polsek Sukajadi", (-6.8895, 107.5960), [(-6.8900, 107.5940), (-6.8830, 107.5990)]),
    ("polsek-coblong", "Polsek Coblong", (-6.8870, 107.6140),
     [(-6.8880, 107.6110), (-6.8820, 107.6230), (-6.8960, 107.6170), (-6.8930, 107.6070), (-6.8985, 107.6186)]),
    ("polsek-cicendo", "Polsek Cicendo", (-6.9065, 107.5890),
     [(-6.9050, 107.5800), (-6.9040, 107.5950), (-6.9080, 107.6010)]),
    ("polsek-andir", "Polsek Andir", (-6.9145, 107.5760),
     [(-6.9150, 107.5700), (-6.9160, 107.5860), (-6.9165, 107.6020)]),
    ("polsek-sumur-bandung", "Polsek Sumur Bandung", (-6.9140, 107.6145),
     [(-6.9130, 107.6110), (-6.9160, 107.6130), (-6.9120, 107.6180)]),
    ("polsek-bandung-wetan", "Polsek Bandung Wetan", (-6.9005, 107.6250),
     [(-6.9030, 107.6200), (-6.9050, 107.6130), (-6.9000, 107.6290)]),
    ("polsek-cibeunying", "Polsek Cibeunying Kaler", (-6.8950, 107.6400), [(-6.8930, 107.6400), (-6.8820, 107.6450)]),
    ("polsek-astanaanyar", "Polsek Astanaanyar", (-6.9300, 107.6005), [(-6.9280, 107.6000), (-6.9330, 107.5960)]),
    ("polsek-regol", "Polsek Regol", (-6.9370, 107.6110),
     [(-6.9225, 107.6075), (-6.9300, 107.6100), (-6.9420, 107.6120)]),
    ("polsek-lengkong", "Polsek Lengkong", (-6.9250, 107.6230),
     [(-6.9230, 107.6200), (-6.9300, 107.6230), (-6.9200, 107.6260)]),
    ("polsek-bojongloa-kaler", "Polsek Bojongloa Kaler", (-6.9300, 107.5830), [(-6.9300, 107.5850), (-6.9370, 107.5880)]),
    ("polsek-bojongloa-kidul", "Polsek Bojongloa Kidul", (-6.9460, 107.5980), [(-6.9450, 107.5950)]),
    ("polsek-bandung-kulon", "Polsek Bandung Kulon", (-6.9250, 107.5600), [(-6.9200, 107.5580), (-6.9380, 107.5700)]),
    ("polsek-babakan-ciparay", "Polsek Babakan Ciparay", (-6.9420, 107.5780),
     [(-6.9500, 107.5850), (-6.9420, 107.5780)]),
    ("polsek-batununggal", "Polsek Batununggal", (-6.9350, 107.6300), [(-6.9330, 107.6330), (-6.9180, 107.6350)]),
    ("polsek-kiaracondong", "Polsek Kiaracondong", (-6.9250, 107.6450), [(-6.9250, 107.6470), (-6.9120, 107.6490)]),
    ("polsek-bandung-kidul", "Polsek Bandung Kidul", (-6.9550, 107.6200), [(-6.9550, 107.6150), (-6.9500, 107.6350)]),
    ("polsek-buahbatu", "Polsek Buahbatu", (-6.9480, 107.6480), [(-6.9450, 107.6550)]),
    ("polsek-antapani", "Polsek Antapani", (-6.9150, 107.6620), [(-6.9130, 107.6620), (-6.9000, 107.6600)]),
    ("polsek-arcamanik", "Polsek Arcamanik", (-6.9160, 107.6790), [(-6.9150, 107.6800), (-6.8980, 107.6850)]),
    ("polsek-gedebage", "Polsek Gedebage", (-6.9470, 107.6950),
     [(-6.9560, 107.7050), (-6.9500, 107.7200), (-6.9470, 107.6950)]),
    ("polsek-rancasari", "Polsek Rancasari", (-6.9500, 107.6800), [(-6.9400, 107.6750), (-6.9520, 107.6850)]),
    ("polsek-ujungberung", "Polsek Ujungberung", (-6.9060, 107.7000), [(-6.9050, 107.7050), (-6.9250, 107.7000)]),
    ("polsek-cibiru", "Polsek Cibiru", (-6.9250, 107.7250), [(-6.9250, 107.7300), (-6.9400, 107.7250)]),
]

FIRE_TOP = ("diskar-pb-bandung", "Dinas Kebakaran dan Penanggulangan Bencana Kota Bandung (Jl. Sukabumi)",
            "station", (-6.9140, 107.6290))
FIRE_SECTORS = [
    ("sektor-pusat", "Sektor Pusat (Markas Jl. Sukabumi)", (-6.9140, 107.6290),
     [(-6.9100, 107.6200), (-6.9050, 107.6380), (-6.9200, 107.6400), (-6.9010, 107.6120)]),
    ("sektor-sukajadi", "Pos Sektor Sukajadi", (-6.8870, 107.5960),
     [(-6.8800, 107.5900), (-6.8700, 107.6050), (-6.8850, 107.6200), (-6.8930, 107.6050)]),
    ("sektor-tegallega", "Pos Sektor Tegallega", (-6.9350, 107.6045),
     [(-6.9300, 107.6050), (-6.9200, 107.6000), (-6.9450, 107.6150)]),
    ("sektor-cicendo", "Pos Sektor Cicendo", (-6.9090, 107.5800),
     [(-6.9100, 107.5800), (-6.9300, 107.5700), (-6.9450, 107.5800)]),
    ("sektor-buahbatu", "Pos Sektor Buahbatu", (-6.9470, 107.6440),
     [(-6.9470, 107.6440), (-6.9330, 107.6500), (-6.9550, 107.6250)]),
    ("sektor-gedebage", "Pos Sektor Gedebage", (-6.9460, 107.6900),
     [(-6.9460, 107.6900), (-6.9200, 107.6700), (-6.9000, 107.6600)]),
    ("sektor-ujungberung", "Pos Sektor Ujungberung", (-6.9110, 107.7040),
     [(-6.9110, 107.7040), (-6.9300, 107.7300)]),
]

MEDICAL_TOP = ("psc-119-bandung", "PSC 119 Kota Bandung (Dinas Kesehatan)", "psc", (-6.9070, 107.6290))
HOSPITALS = [
    ("rs-hasan-sadikin", "RSUP Dr. Hasan Sadikin", (-6.8966, 107.5989), [(-6.8966, 107.5989), (-6.8700, 107.5850)]),
    ("rs-borromeus", "RS Santo Borromeus", (-6.8945, 107.6130), [(-6.8945, 107.6130), (-6.8650, 107.6150)]),
    ("rs-santosa", "RS Santosa Bandung Central", (-6.9155, 107.5990), [(-6.9155, 107.5990), (-6.9120, 107.6120)]),
    ("rs-immanuel", "RS Immanuel", (-6.9360, 107.5940), [(-6.9360, 107.5940), (-6.9250, 107.5620)]),
    ("rs-muhammadiyah", "RS Muhammadiyah Bandung", (-6.9320, 107.6230), [(-6.9320, 107.6230), (-6.9550, 107.6200)]),
    ("rs-santo-yusup", "RS Santo Yusup", (-6.9040, 107.6400), [(-6.9040, 107.6400), (-6.8850, 107.6450)]),
    ("rs-al-islam", "RS Al Islam Bandung", (-6.9408, 107.6653), [(-6.9408, 107.6653), (-6.9200, 107.6600)]),
    ("rsud-kota-bandung", "RSUD Kota Bandung (Ujungberung)", (-6.9117, 107.7043),
     [(-6.9117, 107.7043), (-6.9350, 107.7250), (-6.9400, 107.6950)]),
]

SAR_TOP = ("kantor-sar-bandung", "Kantor SAR Bandung (Basarnas)", "kantor", (-6.9450, 107.6930))
DISASTER_TOP = ("bpbd-kota-bandung", "BPBD Kota Bandung", "badan", (-6.8960, 107.6260))


def _poly(latlon: list[tuple[float, float]]) -> Polygon:
    return Polygon([(lon, lat) for lat, lon in latlon])


def _round(geom):
    # 6 decimals = 0.11 m, the protocol's microdegree grid; shared edges round identically.
    return shapely.set_precision(geom, 1e-6)


def _tile(city: Polygon, children: list) -> dict[str, object]:
    """Union of the Voronoi cells of each child's seeds, clipped to the city: an exact tiling."""
    seeds = [(cid, lon, lat) for cid, _n, _s, pts in children for lat, lon in pts]
    cells = shapely.voronoi_polygons(MultiPoint([(x, y) for _c, x, y in seeds]), extend_to=city.buffer(0.05))
    owner = {}
    for cell in cells.geoms:
        for cid, x, y in seeds:
            if cell.contains(shapely.Point(x, y)):
                owner.setdefault(cid, []).append(cell)
                break
    # Round the cells before clipping: neighbours share the same rounded vertices, so they still
    # tile exactly; the points where cell edges cross the outline are left unrounded, because
    # rounding them would open slivers along the city edge. set_precision(..., 0) drops the grid
    # tag GEOS keeps on rounded geometries, so the clip itself runs in floating point.
    return {cid: shapely.set_precision(shapely.unary_union([_round(c) for c in parts]), 0).intersection(city)
            for cid, parts in owner.items()}


def _feature(fid, name, agency, level, parent, station, geom) -> dict:
    return {"type": "Feature", "id": fid,
            "properties": {"id": fid, "name": name, "agency": agency, "level": level, "parent": parent,
                           "station": {"lat": station[0], "lon": station[1]}},
            "geometry": mapping(geom)}


def _collection(name: str, features: list[dict]) -> dict:
    return {"type": "FeatureCollection", "name": name, "features": features}


def agency_collection(agency, top, child_level, children, city):
    tid, tname, tlevel, tstation = top
    feats = [_feature(tid, tname, agency, tlevel, None, tstation, city)]
    if children:
        shapes = _tile(city, children)
        feats += [_feature(cid, cname, agency, child_level, tid, st, shapes[cid]) for cid, cname, st, _ in children]
    return _collection(agency, feats)


def build() -> dict[str, dict]:
    city = _poly(CITY_OUTLINE)  # 4-decimal vertices already; left without a grid tag (see _tile)
    cc = COMMAND_CENTER
    return {
        "city.geojson": _collection("city", [
            {"type": "Feature", "id": CITY["id"], "properties": {**CITY, "level": "city"}, "geometry": mapping(city)},
            {"type": "Feature", "id": cc["id"],
             "properties": {"id": cc["id"], "name": cc["name"], "level": "command_center"},
             "geometry": {"type": "Point", "coordinates": [cc["lon"], cc["lat"]]}},
        ]),
        "police.geojson": agency_collection("police", POLICE_TOP, "polsek", POLSEK, city),
        "fire.geojson": agency_collection("fire", FIRE_TOP, "post", FIRE_SECTORS, city),
        "medical.geojson": agency_collection("medical", MEDICAL_TOP, "hospital", HOSPITALS, city),
        "sar.geojson": agency_collection("sar", SAR_TOP, None, [], city),
        "disaster.geojson": agency_collection("disaster", DISASTER_TOP, None, [], city),
    }


def main() -> None:
    for name, doc in build().items():
        # One feature per line: a moved seed shows as a diff of the areas it changed.
        feats = ",\n".join(json.dumps(f, separators=(",", ":")) for f in doc["features"])
        (HERE / name).write_text('{"type":"FeatureCollection","name":%s,"features":[\n%s\n]}\n'
                                 % (json.dumps(doc["name"]), feats))
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
