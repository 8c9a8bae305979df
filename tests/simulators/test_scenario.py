"""Scenario files: the shipped samples load, and every mistake in a YAML scenario is reported with
the file and line it is on."""
from __future__ import annotations

import pytest

from fleet_server.domain.jurisdiction import AGENCIES
from simulators.scenario import Alarm, Prank, ScenarioError, load, loads
from tests.support.paths import REPO

SCENARIOS = REPO / "simulators" / "scenarios"


@pytest.fixture(scope="module")
def bandung():
    return load(SCENARIOS / "bandung.yaml")


@pytest.fixture(scope="module")
def scale():
    return load(SCENARIOS / "bandung-scale.yaml")


# -- the shipped samples ----------------------------------------------------------------------
def test_given_the_bandung_sample_then_it_has_buttons_at_real_sites_and_units_of_every_agency(bandung):
    assert 18 <= len(bandung.buttons) <= 30
    assert 12 <= len(bandung.units) <= 20
    assert {u.agency for u in bandung.units} == set(AGENCIES)
    assert {"Alun-Alun Bandung", "Taman Lansia", "Pasar Baru Trade Center", "Terminal Leuwipanjang",
            "Stasiun Bandung", "Lapangan Gasibu", "Jalan Braga", "Cihampelas Walk"} <= {b.site for b in bandung.buttons}


def test_given_the_bandung_sample_then_units_live_at_stations_of_their_own_agency_from_the_geojson(bandung):
    for u in bandung.units:
        home = bandung.stations[u.home]
        assert home.agency == u.agency, u.callsign
    assert bandung.stations["rs-hasan-sadikin"].name == "RSUP Dr. Hasan Sadikin"
    assert bandung.stations["polrestabes-bandung"].agency == "police"


def test_given_the_bandung_sample_then_coordinates_become_microdegrees_inside_the_city(bandung):
    alun = bandung.button("btn-alun-alun")
    assert (alun.lat_udeg, alun.lon_udeg) == (-6921800, 107607100)
    assert bandung.jurisdiction.locate(alun.lat_udeg, alun.lon_udeg, "police")["id"] == "polsek-regol"
    for b in bandung.buttons:
        assert bandung.jurisdiction.locate(b.lat_udeg, b.lon_udeg, "police") is not None, b.id


def test_given_the_bandung_sample_then_its_two_minute_timeline_exercises_every_event_kind(bandung):
    kinds = {e.event for e in bandung.timeline}
    assert kinds == {"alarm", "prank", "stuck", "tamper", "broker_outage", "unit_out_of_service", "rush_hour"}
    times = [e.at for e in bandung.timeline]
    assert times == sorted(times) and times[-1] <= bandung.duration_s == 120
    assert bandung.duration_s / bandung.speedup <= 30  # the accelerated run fits a CI test
    cats = [bandung.alarm_category(e) for e in bandung.timeline if isinstance(e, (Alarm, Prank))]
    assert cats[:3] == ["medical", "police", "police"]  # Taman Lansia, Alun-Alun red key, Braga prank
    assert {"medical", "police", "fire", "disaster"} <= set(cats)


def test_given_the_scale_sample_then_thousands_of_devices_are_generated_inside_the_city_from_a_small_file(scale):
    assert (SCENARIOS / "bandung-scale.yaml").stat().st_size < 2000
    assert len(scale.buttons) == 5000 and len(scale.units) == 600
    assert len({b.id for b in scale.buttons}) == 5000
    for b in scale.buttons[::50]:
        assert scale.jurisdiction.locate(b.lat_udeg, b.lon_udeg, "police") is not None
    for u in scale.units:
        assert scale.stations[u.home].agency == u.agency
    alarms = [e for e in scale.timeline if isinstance(e, (Alarm, Prank))]
    assert len(alarms) == 300 * 600 // 60
    assert 0.02 < sum(isinstance(e, Prank) for e in alarms) / len(alarms) < 0.08
    assert [e.at for e in scale.timeline] == sorted(e.at for e in scale.timeline)


def test_given_the_same_scale_file_twice_then_the_generated_city_is_identical(scale):
    again = load(SCENARIOS / "bandung-scale.yaml")
    assert [(b.id, b.lat, b.lon, b.category) for b in again.buttons] == \
        [(b.id, b.lat, b.lon, b.category) for b in scale.buttons]
    assert [(e.at, e.event, getattr(e, "button", None)) for e in again.timeline] == \
        [(e.at, e.event, getattr(e, "button", None)) for e in scale.timeline]


# -- mistakes name their line -----------------------------------------------------------------
TINY = """\
name: tiny
duration_s: 60
city:
  name: Test
  stations:
    - {id: rs-a, name: RS A, agency: medical, lat: -6.9, lon: 107.6}
    - {id: pol-a, name: Polsek A, agency: police, lat: -6.91, lon: 107.61}
units:
  - callsign: AMB-01
    agency: medical
    type: ambulance
    home: rs-a
    speed: {cruise_kmh: 35, siren_kmh: 55}
buttons:
  - id: btn-a
    site: Taman A
    kind: park
    lat: -6.9
    lon: 107.6
    category: medical
  - id: btn-b
    site: Pasar B
    kind: market
    lat: -6.91
    lon: 107.61
    keys: {red: police, blue: medical}
timeline:
  - {at: 5, event: alarm, button: btn-a}
  - {at: 10, event: prank, button: btn-b, key: red}
  - {at: 20, event: unit_out_of_service, unit: AMB-01}
"""


def test_given_the_tiny_scenario_unchanged_then_it_loads():
    sc = loads(TINY, name="tiny.yaml")
    assert [sc.alarm_category(e) for e in sc.timeline[:2]] == ["medical", "police"]
    assert sc.unit("AMB-01").tracker_id == "trk-amb-01"


MISTAKES = [
    ("wrong type", "duration_s: 60", "duration_s: sixty",
     "tiny.yaml:2: duration_s: Input should be a valid number (got 'sixty')"),
    ("number as string", "    lat: -6.9\n", "    lat: '-6.9'\n",
     "tiny.yaml:18: buttons[0].lat: Input should be a valid number (got '-6.9')"),
    ("unknown station", "home: rs-a", "home: rs-xyz", "tiny.yaml:12: unit 'AMB-01' home station 'rs-xyz' is not a station"),
    ("home of another agency", "home: rs-a", "home: pol-a",
     "tiny.yaml:12: unit 'AMB-01' (medical) home station 'pol-a' belongs to police"),
    ("unit type vs agency", "    agency: medical\n", "    agency: fire\n",
     "tiny.yaml:11: unit 'AMB-01': type ambulance cannot belong to agency fire"),
    ("duplicate button id", "id: btn-b", "id: btn-a", "tiny.yaml:21: duplicate device id 'btn-a'"),
    ("duplicate station id", "id: pol-a", "id: rs-a", "tiny.yaml:7: duplicate station id 'rs-a'"),
    ("time going backwards", "{at: 20, event: unit", "{at: 7, event: unit",
     "tiny.yaml:30: time goes backwards: at 7 s comes after an event at 10 s"),
    ("event after the end", "{at: 20, event: unit", "{at: 90, event: unit",
     "tiny.yaml:30: event at 90 s is after the scenario ends (60 s)"),
    ("unknown button", "button: btn-a}", "button: btn-z}", "tiny.yaml:28: alarm: button 'btn-z' is not a button"),
    ("unknown unit", "unit: AMB-01}", "unit: AMB-09}", "tiny.yaml:30: unit_out_of_service: unit 'AMB-09' is not a unit"),
    ("unknown key", "key: red}", "key: green}", "tiny.yaml:29: prank: button 'btn-b' has no key 'green'"),
    ("key not said", ", key: red}", "}", "tiny.yaml:29: prank: button 'btn-b' has several keys"),
    ("misspelt field", "    site: Taman A", "    sight: Taman A",
     "tiny.yaml:16: buttons[0].sight: Extra inputs are not permitted"),
    ("missing field", "    kind: park\n", "", "tiny.yaml:15: buttons[0].kind: Field required"),
    ("duplicate mapping key", "    kind: park\n", "    kind: park\n    kind: school\n",
     "tiny.yaml:18: duplicate key 'kind' (first on line 17)"),
    ("unknown event", "event: alarm,", "event: alrm,", "tiny.yaml:28: timeline[0]: Input tag 'alrm'"),
    ("out of range", "siren_kmh: 55", "siren_kmh: 20",
     "tiny.yaml:13: units[0].speed: Value error, siren_kmh must not be below cruise_kmh"),
    ("no category", "    category: medical\n", "",
     "tiny.yaml:15: buttons[0]: Value error, a button needs exactly one of `category` or `keys`"),
    ("bad device id", "id: btn-a\n", "id: btn a\n", "tiny.yaml:15: buttons[0].id: String should match pattern"),
    ("yaml syntax", "keys: {red: police, blue: medical}", "keys: {red: police, blue: medical",
     "tiny.yaml:27: YAML: expected ',' or '}', but got ':' (while parsing a flow mapping on line 26)"),
]


@pytest.mark.parametrize("what,old,new,message", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_given_a_mistake_in_the_yaml_when_loaded_then_the_error_names_the_line(what, old, new, message):
    assert old in TINY
    with pytest.raises(ScenarioError) as err:
        loads(TINY.replace(old, new, 1), name="tiny.yaml")
    assert message in str(err.value), str(err.value)


def test_given_several_mistakes_then_all_are_reported_at_once():
    text = TINY.replace("home: rs-a", "home: rs-xyz").replace("button: btn-a}", "button: btn-z}")
    with pytest.raises(ScenarioError) as err:
        loads(text, name="tiny.yaml")
    assert [line for _f, line, _m in err.value.problems] == [12, 28]


def test_given_a_scenario_file_with_a_missing_geojson_dir_then_the_error_names_the_city_line(tmp_path):
    p = tmp_path / "city.yaml"
    p.write_text("name: x\nduration_s: 10\ncity:\n  geojson: nowhere\n")
    with pytest.raises(ScenarioError, match=r"city.yaml:4: city geojson 'nowhere': .*no such file"):
        load(p)


def test_given_a_button_outside_the_city_then_the_error_names_its_line(tmp_path):
    text = (SCENARIOS / "bandung.yaml").read_text().replace("lat: -6.9574, lon: 107.7108", "lat: -6.8117, lon: 107.6175")
    p = tmp_path / "bandung.yaml"
    (tmp_path / "city").symlink_to(REPO / "fleet_server" / "data" / "bandung")
    p.write_text(text.replace("geojson: ../../fleet_server/data/bandung", "geojson: city"))
    with pytest.raises(ScenarioError) as err:
        load(p)
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "btn-gbla, site" in t)
    assert str(err.value) == f"bandung.yaml:{line}: button 'btn-gbla' at -6.8117, 107.6175 is outside every station area"


def test_given_generated_buttons_without_a_geojson_city_then_the_error_names_the_generate_block():
    text = TINY + "generate:\n  seed: 1\n  buttons: {count: 10}\n"
    with pytest.raises(ScenarioError, match=r"tiny.yaml:33: generated buttons need `city.geojson`"):
        loads(text, name="tiny.yaml")


def test_given_a_generated_id_that_clashes_with_a_listed_button_then_the_error_names_the_prefix(tmp_path):
    text = (SCENARIOS / "bandung-scale.yaml").read_text().replace(
        "geojson: ../../fleet_server/data/bandung", "geojson: city").replace(
        "    count: 5000\n", "    count: 3\n    prefix: btn\n").replace("count: 600", "count: 2")
    text += "buttons:\n  - {id: btn-000002, site: Taman, kind: park, lat: -6.9045, lon: 107.6230, category: medical}\n"
    (tmp_path / "city").symlink_to(REPO / "fleet_server" / "data" / "bandung")
    (tmp_path / "scale.yaml").write_text(text)
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "prefix: btn" in t)
    with pytest.raises(ScenarioError, match=f"scale.yaml:{line}: generated button id 'btn-000002' is already buttons"):
        load(tmp_path / "scale.yaml")


@pytest.mark.parametrize("text,message", [("", "a scenario must be a YAML mapping"),
                                          ("- a\n- b\n", "tiny.yaml:1: a scenario must be a YAML mapping")])
def test_given_yaml_that_is_not_a_mapping_then_a_clear_error(text, message):
    with pytest.raises(ScenarioError, match=message):
        loads(text, name="tiny.yaml")
