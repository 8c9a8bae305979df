"""Forwarding over real HTTP (the fleet server as a subprocess on SQLite, no broker link): station
users act only on their own station's forwards, the center may record a station's step for it,
the Polres hands a report down to its Polsek's users, and the server's periodic job climbs an
unaccepted forward Polsek -> Polres -> the center's supervisor, audited; the accountability
report answers as JSON and CSV."""
from __future__ import annotations

import csv
import io

import pytest

from tests.console.conftest import wait_until
from tests.support.server import FleetServer
from tests.web.conftest import NO_BROKER

ANDIR = (-6_914_500, 107_576_000)
POLRES, POLSEK = "polrestabes-bandung", "polsek-andir"


def _server(tmp_path, env: dict) -> FleetServer:
    srv = FleetServer(tmp_path / "srv", NO_BROKER, env={"SIAGA_RUN_INGEST": "false", **env}).start()
    try:
        for name, role, station in (("op", "operator", None), ("sup", "dispatcher", None),
                                    ("polres-1", "station", POLRES), ("polsek-1", "station", POLSEK)):
            r = srv.api("POST", "/users", json={"username": name, "password": f"{name}-password", "role": role,
                                                "station_id": station})
            assert r.status_code == 201, r.text
        srv.tokens = {n: srv.login(n, f"{n}-password") for n in ("op", "sup", "polres-1", "polsek-1")}
    except BaseException:
        srv.stop()
        raise
    return srv


def _as(srv, who: str, method: str, path: str, **kw):
    import httpx
    return httpx.request(method, srv.base_url + "/api/v1" + path, timeout=10,
                         headers={"Authorization": f"Bearer {srv.tokens[who]}"}, **kw)


def _report(srv) -> int:
    r = _as(srv, "op", "POST", "/incidents/reports", json={"category": "police", "summary": "jambret",
                                                           "lat_udeg": ANDIR[0], "lon_udeg": ANDIR[1]})
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.fixture
def srv(tmp_path):
    s = _server(tmp_path, {"SIAGA_FORWARD_ACCEPT_S": "600"})
    try:
        yield s
    finally:
        s.stop()


def test_given_station_users_then_each_acts_only_on_its_own_station_and_the_polres_hands_down_to_the_polsek(srv):
    r = srv.api("POST", "/users", json={"username": "nowhere", "password": "password-123", "role": "station"})
    assert (r.status_code, r.json()["code"]) == (422, "station_needed")
    r = srv.api("POST", "/users", json={"username": "nowhere", "password": "password-123", "role": "station",
                                        "station_id": "polsek-atlantis"})
    assert (r.status_code, r.json()["code"]) == (422, "unknown_station")
    r = srv.api("PATCH", "/users/polsek-1", json={"station_id": "polsek-coblong"})
    assert r.json()["station_id"] == "polsek-coblong"
    assert srv.api("PATCH", "/users/polsek-1", json={"station_id": POLSEK}).json()["station_id"] == POLSEK
    inc = _report(srv)
    f = _as(srv, "op", "POST", f"/incidents/{inc}/forward", json={}).json()
    assert (f["station"], f["holders"]) == (POLRES, ["polres-1"])
    assert _as(srv, "polsek-1", "GET", "/forwards").json() == []
    assert _as(srv, "polsek-1", "GET", "/forwards", params={"station_id": POLRES}).status_code == 403
    r = _as(srv, "polsek-1", "POST", f"/forwards/{f['forward']}/accept")
    assert (r.status_code, r.json()["code"]) == (409, "not_your_station")
    assert [x["forward"] for x in _as(srv, "polres-1", "GET", "/forwards").json()] == [f["forward"]]
    assert _as(srv, "polres-1", "POST", f"/forwards/{f['forward']}/accept").json()["accepted_by"] == "polres-1"
    r = _as(srv, "polres-1", "POST", f"/forwards/{f['forward']}/hand-down", json={"station_id": "rs-al-islam"})
    assert (r.status_code, r.json()["code"]) == (409, "not_a_child_station")
    down = _as(srv, "polres-1", "POST", f"/forwards/{f['forward']}/hand-down", json={})
    assert down.status_code == 201 and down.json()["station"] == POLSEK
    [mine] = _as(srv, "polsek-1", "GET", "/forwards").json()
    assert (mine["incident"], mine["incident_summary"]["summary"]) == (inc, "jambret")
    # The Polsek phoned the center: the operator records the return for it.
    r = _as(srv, "op", "POST", f"/forwards/{mine['forward']}/return", json={"reason": "pelapor tidak di lokasi"})
    assert r.status_code == 200 and r.json()["state"] == "returned"
    chain = _as(srv, "op", "GET", f"/incidents/{inc}/forwards").json()
    assert [c["id"] for c in chain["chain"]] == [POLRES, POLSEK]
    assert [x["state"] for x in chain["forwards"]] == ["handed_down", "returned"]
    audit = srv.api("GET", f"/incidents/{inc}").json()["audit"]
    [ret] = [a for a in audit if a["action"] == "forward_returned"]
    assert ret["actor"] == "op" and ret["detail"].endswith("(recorded by the center for Polsek Andir)")
    assert _as(srv, "polsek-1", "GET", "/forwards", params={"state": "lost"}).status_code == 422
    assert _as(srv, "op", "GET", "/center/accountability").status_code == 403   # the supervisor's report


def test_given_nobody_accepts_then_the_servers_job_climbs_polsek_polres_supervisor_and_the_report_says_so(tmp_path):
    srv = _server(tmp_path, {"SIAGA_FORWARD_ACCEPT_S": "600", "SIAGA_FORWARD_ACCEPT_BY_AGENCY": "polri=1"})
    try:
        inc = _report(srv)
        f = _as(srv, "op", "POST", f"/incidents/{inc}/forward", json={"station_id": POLSEK}).json()
        assert f["accept_after_s"] == 1
        def climbed():
            audit = srv.api("GET", f"/incidents/{inc}").json()["audit"]
            return [(a["from"], a["to"]) for a in audit if a["action"] == "forward_escalated"]
        assert wait_until(lambda: len(climbed()) == 2, timeout=15)
        assert climbed() == [(POLSEK, POLRES), (POLRES, "supervisor")]
        report = _as(srv, "sup", "GET", "/center/accountability").json()
        assert [(h["station"], h["holders"], h["state"]) for h in report["holds"]] == [
            (POLSEK, ["polsek-1"], "escalated"), (POLRES, ["polres-1"], "escalated")]
        assert all(1.0 <= h["unaccepted_s"] < 3.0 for h in report["holds"])
        assert {p["user"]: p["left_unaccepted"] for p in report["people"]} == {"polres-1": 1, "polsek-1": 1}
        rows = list(csv.DictReader(io.StringIO(_as(srv, "sup", "GET", "/center/accountability",
                                                   params={"format": "csv"}).text)))
        assert [(r["station"], r["holders"], r["left_unaccepted"]) for r in rows] == [
            (POLSEK, "polsek-1", "True"), (POLRES, "polres-1", "True")]
    finally:
        srv.stop()
