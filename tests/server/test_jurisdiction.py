"""Jurisdiction: given the Bandung station areas, a point in microdegrees finds its station."""
from __future__ import annotations

import json
import math

import pytest
import shapely
from hypothesis import assume, given
from hypothesis import strategies as st
from shapely.geometry import shape

from fleet_server.domain.jurisdiction import AGENCIES, Jurisdiction, JurisdictionError
from tests.support.paths import REPO

BANDUNG = REPO / "fleet_server" / "data" / "bandung"


@pytest.fixture(scope="module")
def bandung() -> Jurisdiction:
    return Jurisdiction.load(BANDUNG)


@pytest.fixture(scope="module")
def city():
    doc = json.loads((BANDUNG / "city.geojson").read_text())
    return next(shape(f["geometry"]) for f in doc["features"] if f["properties"]["level"] == "city")


def udeg(deg: float) -> int:
    return int(round(deg * 1_000_000))


# (place, lat, lon, police area, fire sector): coordinates of the landmarks from public maps;
# the Polsek is the kecamatan the landmark's address names.
LANDMARKS = [
    ("Gedung Sate", -6.9025, 107.6188, "polsek-bandung-wetan", "sektor-pusat"),
    ("Lapangan Gasibu", -6.9003, 107.6186, "polsek-coblong", "sektor-pusat"),
    ("Alun-Alun Bandung", -6.9218, 107.6071, "polsek-regol", "sektor-tegallega"),
    ("ITB Ganesha", -6.8915, 107.6107, "polsek-coblong", "sektor-sukajadi"),
    ("Pasar Baru", -6.9173, 107.6045, "polsek-andir", "sektor-tegallega"),
    ("Stasiun Bandung", -6.9147, 107.6022, "polsek-andir", "sektor-tegallega"),
    ("Jalan Braga", -6.9175, 107.6093, "polsek-sumur-bandung", "sektor-tegallega"),
    ("Balai Kota", -6.9110, 107.6097, "polsek-sumur-bandung", "sektor-pusat"),
    ("Taman Lansia", -6.9045, 107.6230, "polsek-bandung-wetan", "sektor-pusat"),
    ("Cihampelas Walk", -6.8945, 107.6045, "polsek-coblong", "sektor-sukajadi"),
    ("Terminal Leuwipanjang", -6.9455, 107.5940, "polsek-bojongloa-kidul", "sektor-cicendo"),
    ("Stasiun Kiaracondong", -6.9250, 107.6465, "polsek-kiaracondong", "sektor-pusat"),
    ("Stadion GBLA", -6.9574, 107.7108, "polsek-gedebage", "sektor-gedebage"),
]


@pytest.mark.parametrize("place,lat,lon,polsek,sector", LANDMARKS, ids=[p[0] for p in LANDMARKS])
def test_given_a_landmark_when_located_then_it_lands_in_its_polsek_and_fire_sector(bandung, place, lat, lon,
                                                                                  polsek, sector):
    police = bandung.locate(udeg(lat), udeg(lon), "police")
    fire = bandung.locate(udeg(lat), udeg(lon), "fire")
    assert police["id"] == polsek, place
    assert fire["id"] == sector, place


def test_given_a_polsek_point_then_the_answer_names_polrestabes_as_parent_and_the_chain_top_down(bandung):
    got = bandung.locate(udeg(-6.9025), udeg(107.6188), "police")
    assert got["level"] == "polsek"
    assert got["name"] == "Polsek Bandung Wetan"
    assert got["parent"] == {"id": "polrestabes-bandung", "name": "Polrestabes Bandung",
                             "agency": "police", "level": "polres"}
    assert got["chain"] == ["polrestabes-bandung", "polsek-bandung-wetan"]
    assert got["station"] == {"lat": -6900500, "lon": 107625000}


def test_given_an_agency_without_sub_areas_then_the_top_area_answers_with_no_parent(bandung):
    got = bandung.locate(udeg(-6.9025), udeg(107.6188), "sar")
    assert got["id"] == "kantor-sar-bandung"
    assert got["parent"] is None
    assert got["chain"] == ["kantor-sar-bandung"]


@pytest.mark.parametrize("place,lat,lon", [
    ("Lembang", -6.8117, 107.6175), ("Cimahi", -6.8722, 107.5425), ("Soreang", -7.0252, 107.5197),
    ("Jakarta Monas", -6.1754, 106.8272), ("null island", 0.0, 0.0),
])
@pytest.mark.parametrize("agency", AGENCIES)
def test_given_a_point_outside_the_city_when_located_then_none(bandung, place, lat, lon, agency):
    assert bandung.locate(udeg(lat), udeg(lon), agency) is None


@given(lat=st.floats(-6.97, -6.84), lon=st.floats(107.54, 107.75))
def test_given_any_point_inside_the_city_then_every_agency_resolves_it_to_a_deepest_area(bandung, city, lat, lon):
    assume(city.contains(shapely.Point(lon, lat)))
    lat_u, lon_u = udeg(lat), udeg(lon)
    assume(city.contains(shapely.Point(lon_u / 1e6, lat_u / 1e6)))
    for agency in AGENCIES:
        got = bandung.locate(lat_u, lon_u, agency)
        assert got is not None, (agency, lat_u, lon_u)
        assert got["agency"] == agency
        # Agencies with sub-areas must answer with a sub-area: no gaps between siblings.
        if agency in ("police", "fire", "medical"):
            assert len(got["chain"]) == 2, (agency, lat_u, lon_u, got)


@pytest.mark.parametrize("agency", ["police", "fire", "medical"])
def test_given_the_sample_city_then_each_agencys_children_tile_the_parent_without_gaps(bandung, city, agency):
    children = [shape(f["geometry"]) for f in bandung.areas(agency) if f["properties"]["parent"]]
    covered = shapely.union_all(children)
    m2_per_deg2 = 111_320.0 ** 2 * math.cos(math.radians(7))
    assert city.difference(covered).area * m2_per_deg2 < 100.0
    assert len(children) >= 7


def test_given_the_sample_city_then_every_station_stands_inside_its_own_area(bandung):
    for f in bandung.areas():
        p = f["properties"]
        got = bandung.locate(p["station"]["lat"], p["station"]["lon"], p["agency"])
        assert got is not None and p["id"] in got["chain"], (p["id"], got)


def test_given_the_sample_city_then_areas_lists_features_for_the_console_and_sites_hold_the_command_center(bandung):
    police = bandung.areas("police")
    assert {f["properties"]["agency"] for f in police} == {"police"}
    assert len(police) >= 20
    assert police[0]["properties"]["level"] == "polres"  # parents first, so the map draws them under
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in police)
    assert {f["properties"]["agency"] for f in bandung.areas()} == set(AGENCIES)
    sites = {s["level"]: s for s in bandung.sites()}
    assert sites["command_center"]["name"].startswith("Bandung Command Center")
    assert sites["command_center"]["geometry"]["type"] == "Point"


@pytest.mark.parametrize("lat,lon,agency,reason", [
    (-6.9025, 107618800, "police", "integer microdegrees"),
    (True, 107618800, "police", "integer microdegrees"),
    (-91_000_000, 107618800, "police", "out of range"),
    (-6902500, 107618800, "ambulance", "unknown agency"),
])
def test_given_bad_input_when_located_then_a_clear_value_error(bandung, lat, lon, agency, reason):
    with pytest.raises(ValueError, match=reason):
        bandung.locate(lat, lon, agency)


# -- bad files --------------------------------------------------------------------------------
def _feature(fid, coords, parent=None, **over):
    props = {"id": fid, "name": fid.title(), "agency": "police", "level": "polsek" if parent else "polres",
             "parent": parent, "station": {"lat": -6.9, "lon": 107.6}}
    props.update(over)
    return {"type": "Feature", "properties": props, "geometry": {"type": "Polygon", "coordinates": [coords]}}


SQUARE = [[107.0, -7.0], [108.0, -7.0], [108.0, -6.0], [107.0, -6.0], [107.0, -7.0]]
WEST = [[107.0, -7.0], [107.5, -7.0], [107.5, -6.0], [107.0, -6.0], [107.0, -7.0]]
EAST = [[107.5, -7.0], [108.0, -7.0], [108.0, -6.0], [107.5, -6.0], [107.5, -7.0]]
WIDE_WEST = [[107.0, -7.0], [107.6, -7.0], [107.6, -6.0], [107.0, -6.0], [107.0, -7.0]]
BOWTIE = [[107.0, -7.0], [108.0, -6.0], [108.0, -7.0], [107.0, -6.0], [107.0, -7.0]]


def _write(tmp_path, features):
    p = tmp_path / "police.geojson"
    p.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return p


def test_given_well_formed_siblings_that_share_an_edge_then_the_file_loads(tmp_path):
    j = Jurisdiction.load(_write(tmp_path, [_feature("top", SQUARE), _feature("w", WEST, "top"),
                                            _feature("e", EAST, "top")]))
    assert j.locate(-6_500_000, 107_250_000, "police")["chain"] == ["top", "w"]
    assert j.locate(-6_500_000, 107_750_000, "police")["chain"] == ["top", "e"]


@pytest.mark.parametrize("features,reason", [
    ([_feature("top", SQUARE), _feature("w", WIDE_WEST, "top"), _feature("e", EAST, "top")],
     r"sibling areas 'w' and 'e' overlap by \d+ m²"),
    ([_feature("top", BOWTIE)], r"feature 0 \('top'\): invalid polygon: Self-intersection"),
    ([{**_feature("top", SQUARE), "properties": {"id": "top", "name": "x", "agency": "police"}}],
     r"'top'\): missing properties: level, parent, station"),
    ([_feature("top", SQUARE, agency="army")], "agency 'army' is not one of"),
    ([_feature("top", SQUARE), _feature("w", WEST, "nowhere")], "unknown parent 'nowhere'"),
    ([_feature("top", SQUARE), _feature("top", WEST)], "duplicate area id 'top'"),
    ([_feature("top", WEST), _feature("e", EAST, "top")], r"'e' reaches \d+ m² outside its parent 'top'"),
    ([_feature("top", SQUARE, station={"lat": "x"})], "station must be"),
])
def test_given_a_bad_area_file_when_loaded_then_a_clear_error_names_the_file_and_feature(tmp_path, features, reason):
    with pytest.raises(JurisdictionError, match=reason) as err:
        Jurisdiction.load(_write(tmp_path, features))
    assert "police.geojson" in str(err.value)


def test_given_a_file_that_is_not_geojson_when_loaded_then_a_clear_error(tmp_path):
    p = tmp_path / "x.geojson"
    p.write_text("{not json")
    with pytest.raises(JurisdictionError, match="x.geojson: not readable GeoJSON"):
        Jurisdiction.load(p)
    p.write_text(json.dumps({"type": "Feature"}))
    with pytest.raises(JurisdictionError, match="not a GeoJSON FeatureCollection"):
        Jurisdiction.load(p)
    with pytest.raises(JurisdictionError, match="no such file"):
        Jurisdiction.load(tmp_path / "missing")
