"""Call-taking over real HTTP (the server as a subprocess, SQLite): a call taken as an emergency
lands in the emergency queue routed to its Polsek under its Polres; as a non-emergency on the desk;
the caller's history by number (any form of it) is in full only for the roles that call back, each
incident's reveal audited once per user; the known sites hold stations, landmarks and device sites;
bad calls are refused with their reason."""
from __future__ import annotations

from fleet_server.domain.jurisdiction import Jurisdiction
from fleet_server.settings import REPO_ROOT

AREAS = REPO_ROOT / "fleet_server" / "data" / "bandung"
ALUN_ALUN = (-6921800, 107607100)
NUMBER, MASKED = "+6281234567890", "+62812*****890"


def _call(web, role="operator", **body):
    call = {"kind": "emergency", "category": "police", "text": "dua orang berkelahi, satu membawa pisau",
            "caller_number": "0812 3456 7890", "caller_name": "Budi", "located_by": "site",
            "lat_udeg": ALUN_ALUN[0], "lon_udeg": ALUN_ALUN[1], "site": "Alun-Alun Bandung", **body}
    return web.api("POST", "/calls", token=web.tokens[role], json=call)


def test_given_an_emergency_call_at_a_known_site_then_it_is_in_the_emergency_queue_at_its_polsek_under_its_polres(web):
    r = _call(web)
    assert r.status_code == 201, r.text
    polsek = Jurisdiction.load(AREAS).locate(*ALUN_ALUN, "police")
    got = r.json()
    assert (got["type"], got["agency"], got["priority"]) == ("emergency", "polri", 1)
    assert got["station"] == {"id": polsek["id"], "name": polsek["name"], "parent": polsek["parent"]["id"]}
    assert polsek["level"] == "polsek" and polsek["parent"]["level"] == "polres"
    queue = web.api("GET", "/incidents", params={"type": "emergency", "open": True}).json()
    assert [i["id"] for i in queue] == [got["id"]]
    d = web.api("GET", f"/incidents/{got['id']}", token=web.tokens["operator"]).json()
    assert (d["channel"], d["reporter"], d["caller"], d["site"]) == ("phone", "Budi", NUMBER, "Alun-Alun Bandung")
    assert (d["location"]["lat_udeg"], d["location"]["source"]) == (ALUN_ALUN[0], "fixed")
    [taken] = [a for a in d["audit"] if a["action"] == "phone_report"]
    assert taken["actor"] == "operator"
    assert "taken by operator; caller Budi; located at known site Alun-Alun Bandung" in taken["detail"]
    assert "6281234567890" not in taken["detail"]


def test_given_a_non_emergency_call_then_it_goes_to_the_desk_and_never_to_the_emergency_queue(web):
    r = _call(web, kind="report", category="traffic", text="lampu lalu lintas mati di simpang Dago",
              located_by="none", lat_udeg=None, lon_udeg=None, site=None)
    assert r.status_code == 201, r.text
    assert r.json()["type"] == "report"
    r = _call(web, kind="report", category="unknown", text="  ")
    assert (r.status_code, r.json()["code"]) == (409, "text_needed")
    told = _call(web, kind="report", category="unknown", text="pohon tumbang", located_by="none",
                 lat_udeg=None, lon_udeg=None, site="Jl. Sukamulya").json()["id"]
    assert web.api("GET", f"/incidents/{told}").json()["summary"] == "pohon tumbang (Jl. Sukamulya)"
    assert web.api("GET", "/incidents", params={"type": "emergency"}).json() == []
    assert len(web.api("GET", "/incidents", params={"type": "report"}).json()) == 2


def test_given_earlier_reports_from_a_number_when_its_history_is_asked_in_another_form_then_callback_roles_see_it_in_full_audited_once(web):
    first = web.api("POST", "/incidents/reports", json={"category": "unknown", "summary": "got lost, sms",
                                                         "caller_number": "6281234567890"}).json()["id"]
    second = _call(web).json()["id"]
    assert web.api("POST", f"/incidents/{first}/transition", json={"to_state": "prank", "reason": "laughing"}).status_code == 200
    for _ in range(2):
        r = web.api("POST", "/callers/history", token=web.tokens["operator"], json={"number": "0812-3456-7890"})
        assert r.status_code == 200, r.text
    h = r.json()
    assert h["number"] == NUMBER
    assert [(x["id"], x["outcome"], x["prank"]) for x in h["reports"]] == [(second, "new", False), (first, "prank", True)]
    assert [x["caller"] for x in h["reports"]] == [NUMBER, NUMBER], "the 62... row is the same caller, now normalized"
    assert h["flag"]["count"] == 1 and h["flag"]["why"][0]["incident"] == first and h["flag"]["flagged"] is False
    for inc in (first, second):
        audit = web.api("GET", f"/incidents/{inc}").json()["audit"]
        assert [a["actor"] for a in audit if a["action"] == "caller_revealed"] == ["operator"], inc
    tech = web.api("POST", "/callers/history", token=web.tokens["technician"], json={"number": NUMBER}).json()
    assert tech["number"] == MASKED and {x["caller"] for x in tech["reports"]} == {MASKED}
    audit = web.api("GET", f"/incidents/{first}").json()["audit"]
    assert "technician" not in [a["actor"] for a in audit if a["action"] == "caller_revealed"]
    assert web.api("POST", "/callers/history", token=web.tokens["viewer"], json={"number": NUMBER}).status_code == 403


def test_given_bad_calls_then_each_is_refused_with_its_reason_and_nothing_is_recorded(web):
    cases = [({"located_by": "site", "lat_udeg": None}, 409, "location_needed"),
             ({"caller_number": "call me"}, 409, "bad_number"),
             ({"located_by": "aml"}, 409, "no_aml_fix"),
             ({"text": "   "}, 409, "text_needed"),
             ({"category": "weather"}, 422, "invalid_request")]
    for change, status, code in cases:
        r = _call(web, **change)
        assert (r.status_code, r.json()["code"]) == (status, code), (change, r.text)
    assert web.api("GET", "/incidents").json() == []
    assert _call(web, role="viewer").status_code == 403


def test_given_the_city_then_known_sites_hold_its_stations_landmarks_and_registered_device_sites(web):
    r = web.api("POST", "/devices", token=web.tokens["technician"],
                json={"id": "btn-pasar-cicadas", "kind": "button", "site": "Pasar Cicadas",
                      "lat_udeg": -6904000, "lon_udeg": 107641000})
    assert r.status_code == 201, r.text
    sites = {s["name"]: s for s in web.api("GET", "/sites", token=web.tokens["viewer"]).json()}
    assert sites["Polsek Regol"]["kind"] == "station" and sites["Polsek Regol"]["agency"] == "police"
    assert sites["Alun-Alun Bandung"] == {"name": "Alun-Alun Bandung", "kind": "square", "agency": None,
                                          "lat_udeg": -6921800, "lon_udeg": 107607100, "source": "sites.json"}
    assert sites["Pasar Cicadas"]["source"] == "device registry"
    assert len(sites) > 60
