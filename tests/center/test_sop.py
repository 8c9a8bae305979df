"""Run cards (fleet_server/domain/sop.py): every kind of broken file is refused with its file and
line; the shipped Tangerang-style set loads; an incident's checklist is ticked through the service
on both incident stores, each tick audited (who, when) and on the live feed; dispatch ranks the
card's unit types first."""
from __future__ import annotations

from pathlib import Path

import pytest

from fleet_server.domain import sop
from fleet_server.domain.memory import MemoryIncidentStore
from fleet_server.domain.recommend import IncidentSite, Recommender
from fleet_server.domain.service import IncidentService, Refused, Rules
from fleet_server.domain.tracking import Tracking
from fleet_server.storage.db import Database
from fleet_server.storage.repositories import SqlIncidentStore
from tests.dispatch.conftest import INCIDENT, NOW, place
from tests.server.conftest import FakeClock

SHIPPED = Path(__file__).resolve().parents[2] / "fleet_server" / "data" / "sop"

GOOD = """\
cards:
  - id: damkar-fire
    agency: damkar
    category: fire
    title: Fire
    steps:
      - {id: location, text: Confirm the address}
      - {id: trapped, text: Anyone inside}
    notify: [Damkar post]
    unit_types: [fire_truck]
"""


def _problems(text: str, name: str = "cards.yaml") -> list[str]:
    with pytest.raises(sop.SopError) as e:
        sop.loads(text, name)
    return str(e.value).splitlines()


@pytest.mark.parametrize("text, expected", [
    ("cards: [\n  {id: a\n", "cards.yaml:3: YAML:"),                                   # unclosed flow
    ("- just\n- a list\n", "cards.yaml:1: a run card file must be a mapping with `cards:`"),
    ("cards: []\n", "cards.yaml:1: cards: List should have at least 1 item"),
    (GOOD.replace("    title: Fire\n", ""), "cards.yaml:2: cards[0].title: Field required"),
    (GOOD.replace("    title: Fire\n", "    title: Fire\n    owner: me\n"), "cards.yaml:6: cards[0].owner: Extra inputs"),
    (GOOD.replace("agency: damkar", "agency: pemadam"), "cards.yaml:3: cards[0].agency: agency 'pemadam' is not one of"),
    (GOOD.replace("category: fire", "category: flood"), "cards.yaml:4: cards[0].category: category 'flood' is not one of"),
    (GOOD.replace("[fire_truck]", "[fire_truck, tank]"), "cards.yaml:10: cards[0].unit_types: unit type 'tank' is not one of"),
    (GOOD.replace("id: trapped", "id: location"), "cards.yaml:2: cards[0]: step id 'location' appears twice"),
    (GOOD.replace("id: trapped", "id: Trapped Inside"), "cards.yaml:8: cards[0].steps[1].id: String should match pattern"),
    (GOOD.replace("text: Anyone inside", "text: ''"), "cards.yaml:8: cards[0].steps[1].text: String should have at least 1"),
    (GOOD.replace("    steps:\n      - {id: location, text: Confirm the address}\n      - {id: trapped, text: Anyone inside}\n",
                  "    steps: []\n"), "cards.yaml:6: cards[0].steps: List should have at least 1 item"),
    (GOOD + GOOD.replace("cards:\n", "").replace("id: damkar-fire", "id: damkar-fire-2"),
     "cards.yaml:11: cards[1]: a second card for damkar/fire (the first is cards[0])"),
])
def test_given_a_broken_run_card_file_when_loaded_then_the_error_names_file_line_and_reason(text, expected):
    problems = _problems(text)
    assert any(p.startswith(expected) for p in problems), problems


def test_given_several_problems_when_loaded_then_every_one_is_reported_at_once():
    text = GOOD.replace("agency: damkar", "agency: pemadam").replace("[fire_truck]", "[tank]")
    problems = _problems(text)
    assert len(problems) == 2 and problems[0].startswith("cards.yaml:3:") and problems[1].startswith("cards.yaml:10:")


def test_given_a_directory_when_files_clash_or_cannot_be_read_then_every_file_is_named(tmp_path):
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD)
    (tmp_path / "c.yaml").write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(sop.SopError) as e:
        sop.load_dir(tmp_path)
    msg = str(e.value)
    assert "b.yaml: card id 'damkar-fire' is also in a.yaml" in msg
    assert "b.yaml: a card for damkar/fire is also in a.yaml" in msg
    assert "c.yaml: cannot read:" in msg
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(sop.SopError, match="no run card files"):
        sop.load_dir(empty)


def test_given_the_shipped_set_when_loaded_then_bpbd_dishub_dinkes_damkar_and_polri_have_cards():
    cards = sop.load_dir(SHIPPED)
    for agency, category in (("bpbd", "disaster"), ("dishub", "traffic"), ("dinkes", "medical"),
                             ("damkar", "fire"), ("polri", "police")):
        card = cards.card_for(agency, category)
        assert card is not None and card.steps and card.notify and card.unit_types, (agency, category)
    assert cards.card_for("dishub", "traffic").unit_types == ["motorbike", "rescue_truck"]


@pytest.fixture(params=["memory", "sqlite"])
def svc(request, tmp_path):
    db = None
    if request.param == "memory":
        store = MemoryIncidentStore()
    else:
        db = Database(f"sqlite:///{tmp_path / 'siaga.db'}")
        store = SqlIncidentStore(db)
    s = IncidentService(store, Rules(), None, clock=FakeClock(), run_cards=sop.load_dir(SHIPPED))
    s.events = []
    s.listeners.append(s.events.append)
    yield s
    if db is not None:
        db.dispose()


def test_given_a_traffic_report_when_steps_are_ticked_then_each_is_timed_audited_and_on_the_feed(svc):
    inc = svc.report("traffic", "tabrakan di Jl. Daan Mogot", "op-1")
    cl = svc.sop_checklist(inc)["card"]
    assert cl["id"] == "dishub-traffic" and cl["done"] == 0 and all(s["ticked"] is None for s in cl["steps"])
    out = svc.tick_sop_step(inc, "location", "op-1", at=1000.0)
    svc.tick_sop_step(inc, "injured", "op-2", at=1030.5)
    cl = svc.sop_checklist(inc)["card"]
    by_id = {s["id"]: s["ticked"] for s in cl["steps"]}
    assert by_id["location"] == {"by": "op-1", "at": 1000.0} and by_id["injured"] == {"by": "op-2", "at": 1030.5}
    assert cl["done"] == 2 and out["card"]["done"] == 1
    ticks = [e for e in svc.events if e.get("event") == "sop_ticked"]
    assert [(e["incident_id"], e["step"], e["by"]) for e in ticks] == [(inc, "location", "op-1"), (inc, "injured", "op-2")]
    with svc.store.transaction() as tx:
        rows = tx.audit.actions("incident", inc, sop.TICKED)
    assert [(r["actor"], r["to_value"], r["detail"], r["at"]) for r in rows] == [
        ("op-1", "location", "dishub-traffic", 1000.0), ("op-2", "injured", "dishub-traffic", 1030.5)]


def test_given_a_checklist_when_a_step_is_unknown_or_ticked_twice_or_no_card_then_refused_and_not_audited(svc):
    inc = svc.report("fire", "asap", "op-1")
    svc.tick_sop_step(inc, "location", "op-1")
    with pytest.raises(Refused) as e:
        svc.tick_sop_step(inc, "location", "op-2")
    assert e.value.code == "already_ticked"
    with pytest.raises(Refused) as e:
        svc.tick_sop_step(inc, "nope", "op-1")
    assert e.value.code == "bad_step" and "damkar-fire" in e.value.reason
    sar = svc.report("sar", "perahu hilang", "op-1")   # the shipped set has no Basarnas card
    assert svc.sop_checklist(sar)["card"] is None
    with pytest.raises(Refused) as e:
        svc.tick_sop_step(sar, "location", "op-1")
    assert e.value.code == "no_sop"
    with svc.store.transaction() as tx:
        assert len(tx.audit.actions("incident", inc, sop.TICKED)) == 1
        assert tx.audit.actions("incident", sar, sop.TICKED) == []


def test_given_a_run_card_proposing_a_type_when_recommending_then_that_type_ranks_before_nearer_others():
    t = Tracking()
    place(t, "POL-CAR", 3000, agency="police", type_="police_car")
    place(t, "POL-BIKE-1", 500, agency="police", type_="motorbike")
    place(t, "POL-BIKE-2", 800, agency="police", type_="motorbike")
    r = Recommender(t)
    plain = r.recommend(IncidentSite(7, INCIDENT[0], INCIDENT[1], "police"), NOW, k=2)
    assert [p.unit for p in plain.picks] == ["POL-BIKE-1", "POL-BIKE-2"]
    prefer = r.recommend(IncidentSite(7, INCIDENT[0], INCIDENT[1], "police", ("police_car",)), NOW, k=2)
    assert [p.unit for p in prefer.picks] == ["POL-CAR", "POL-BIKE-1"]
    assert any("run card proposes" in why for why in prefer.picks[0].reasons)
    assert not any("run card" in why for why in prefer.picks[1].reasons)


def test_given_a_medical_sos_when_dispatch_opens_it_then_the_card_s_ambulance_ranks_before_a_nearer_motorbike(tmp_path):
    import time

    from fleet_server.app import open_fleet
    from fleet_server.domain.assignments import AssignmentConfig
    from fleet_server.domain.fleet import FleetConfig
    from fleet_server.domain.incident_bridge import IncidentBridge
    from fleet_server.domain.units import Unit
    from tests.dispatch.conftest import north_of
    from tests.dispatch.test_incident_bridge import alarm as medical_alarm
    from tests.units.conftest import pos_msg

    db = Database(f"sqlite:///{tmp_path / 'siaga.db'}")
    service = IncidentService(SqlIncidentStore(db), Rules(), run_cards=sop.load_dir(SHIPPED))
    fleet = open_fleet(db.engine, lambda t, p, q: None, FleetConfig(assignments=AssignmentConfig(button_feedback=False)))
    bridge = IncidentBridge(fleet, service)
    service.listeners.append(bridge.on_service_event)
    try:
        service.register_device("btn-sate", "button", "test", category="medical", lat_udeg=INCIDENT[0], lon_udeg=INCIDENT[1])
        fleet.register(Unit(id="AMB-01", callsign="Ambulans 1", agency="medical", type="ambulance", device_id="trk-amb-01"))
        fleet.register(Unit(id="MTR-01", callsign="Motor 1", agency="medical", type="motorbike", device_id="trk-mtr-01"))
        now = time.time()
        fleet.handle("pos", pos_msg("trk-amb-01", now - 10, *north_of(3000), acc=5), now)
        fleet.handle("pos", pos_msg("trk-mtr-01", now - 10, *north_of(300), acc=5), now)
        inc = service.ingest_alarm(medical_alarm("btn-sate", 1, now), "mqtt", now).incident_id
        rec = fleet.dispatch.recommend(inc)
        assert [p.unit for p in rec.picks] == ["AMB-01", "MTR-01"]
        assert "a unit type the run card proposes" in rec.picks[0].reasons[-1]
    finally:
        fleet.close()
        db.dispose()
