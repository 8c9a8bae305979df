"""Forwarding in headless Chromium against the real server and broker: the operator forwards a real
SOS to its Polres and the Polres's user accepts it in the station view; a forward nobody accepts
within the configured time escalates to the center's supervisor, the queue says so, and the
accountability report names who held it and for how long."""
from __future__ import annotations

from tests.console.conftest import FAST_CLOCKS, USERS, buttons_on, start_server, wait_until

ANDIR = (-6_914_500, 107_576_000)        # Polsek Andir, under Polrestabes Bandung
POLRES = "polrestabes-bandung"


def _station_user(srv, name: str, station: str) -> None:
    r = srv.api("POST", "/users", json={"username": name, "password": f"{name}-pw-1", "role": "station",
                                        "station_id": station})
    assert r.status_code == 201, r.text


def test_given_an_sos_forwarded_by_the_operator_then_the_polres_user_accepts_it_in_the_station_view(tmp_path, broker, console):
    srv = start_server(tmp_path, broker, env={**FAST_CLOCKS, "SIAGA_SUPERVISE_EVERY_S": "0.5",
                                              "SIAGA_FORWARD_ACCEPT_S": "600"})
    try:
        _station_user(srv, "polres-1", POLRES)
        with buttons_on(srv, broker) as make:
            btn = make("btn-andir", site="Pasar Andir", lat=ANDIR[0], lon=ANDIR[1], category="police")
            op = console().login(srv.base_url, "operator", USERS["operator"])
            btn.press()
            inc_id = int(op.page.wait_for_selector("#queue [data-incident]").get_attribute("data-incident"))
            op.page.click(f"#queue [data-incident='{inc_id}']")
            op.page.wait_for_selector("#forward-button")
            assert "Polrestabes Bandung" in op.page.inner_text("#forward-button")
            op.page.click("#forward-button")
            op.page.wait_for_selector(f"#queue [data-incident='{inc_id}'] .tag.fwd[data-forward-state='pending']")

            st = console().login(srv.base_url, "polres-1", "polres-1-pw-1")
            st.page.click(f"#station-list tr[data-incident='{inc_id}'] button[data-step='accept']")
            st.page.wait_for_selector(f"#station-list tr[data-incident='{inc_id}'][data-forward-state='accepted']")
            st.screenshot("station")
            # The operator's queue follows over the live feed.
            tag = op.page.wait_for_selector(f"#queue [data-incident='{inc_id}'] .tag.fwd[data-forward-state='accepted']")
            assert "accepted by polres-1 at Polrestabes Bandung" in tag.inner_text()
            op.page.wait_for_selector("#inc-forwards li[data-forward-state='accepted']")
            op.page.eval_on_selector("#inc-forwards", "el => el.scrollIntoView()")
            op.screenshot("incident-forward")
            audit = srv.api("GET", f"/incidents/{inc_id}").json()["audit"]
            steps = [(a["action"], a["actor"], a["to"]) for a in audit if a["action"].startswith("forward")]
            assert steps == [("forwarded", "operator", POLRES), ("forward_accepted", "polres-1", POLRES)]
            assert op.errors == [] and st.errors == [] and op.outside_requests == [] and st.outside_requests == []
    finally:
        srv.stop()


def test_given_a_forward_nobody_accepts_then_it_escalates_and_the_report_names_who_held_it_and_how_long(tmp_path, broker, console):
    srv = start_server(tmp_path, broker, env={**FAST_CLOCKS, "SIAGA_SUPERVISE_EVERY_S": "0.5",
                                              "SIAGA_FORWARD_ACCEPT_S": "2", "SIAGA_FORWARD_AUTO_AGENCIES": "polri"})
    try:
        _station_user(srv, "polres-1", POLRES)
        with buttons_on(srv, broker) as make:
            btn = make("btn-andir", site="Pasar Andir", lat=ANDIR[0], lon=ANDIR[1], category="police")
            p = console().login(srv.base_url, "dispatcher", USERS["dispatcher"])
            btn.press()
            inc_id = int(p.page.wait_for_selector("#queue [data-incident]").get_attribute("data-incident"))
            # Forwarded on routing (the center's setting), then unaccepted for 2 s: to the supervisor.
            tag = p.page.wait_for_selector(f"#queue [data-incident='{inc_id}'] .tag.fwd[data-forward-state='escalated']")
            assert tag.inner_text() == "forward escalated to the supervisor"
            audit = srv.api("GET", f"/incidents/{inc_id}").json()["audit"]
            [sent] = [a for a in audit if a["action"] == "forwarded"]
            [up] = [a for a in audit if a["action"] == "forward_escalated"]
            assert (sent["actor"], sent["to"]) == ("system", POLRES)
            assert (up["actor"], up["from"], up["to"]) == ("system", POLRES, "supervisor")
            assert "held by polres-1" in up["detail"]

            report = srv.api("GET", "/center/accountability").json()
            [hold] = report["holds"]
            assert (hold["incident"], hold["holders"], hold["state"], hold["left_unaccepted"]) == (inc_id, ["polres-1"], "escalated", True)
            assert 2.0 <= hold["unaccepted_s"] < 4.0
            [person] = report["people"]
            assert (person["user"], person["received"], person["accepted"], person["left_unaccepted"]) == ("polres-1", 1, 0, 1)
            csv = srv.api("GET", "/center/accountability", params={"format": "csv"}).text.splitlines()
            assert csv[0].startswith("forward,incident,station") and f",{inc_id},{POLRES}," in csv[1]

            p.page.keyboard.press("8")
            row = p.page.wait_for_selector("#acc-people tr[data-user='polres-1']")
            cells = [c.inner_text() for c in row.query_selector_all("td")]
            assert cells[0] == "1" and cells[4] == "1"          # received, left unaccepted
            held = p.page.inner_text(f"#acc-holds tr[data-incident='{inc_id}'] .acc-unaccepted")
            assert held in ("0:02", "0:03")
            assert p.page.inner_text(f"#acc-holds tr[data-incident='{inc_id}'] .acc-holders") == "polres-1"
            p.screenshot("accountability")
            assert p.errors == [] and p.outside_requests == []
    finally:
        srv.stop()
