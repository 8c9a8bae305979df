"""The escalation ladder and the promise in headless Chromium against the real server and broker:
an SOS nobody acknowledges is tagged as escalated to the supervisor, then to the center head (each
rung audited); once the promise passes with no unit on scene the queue says promise breached, the
audit and the API list it, and the statistics page counts it."""
from __future__ import annotations

from tests.console.conftest import FAST_CLOCKS, USERS, buttons_on, start_server, wait_until


def test_given_an_sos_nobody_acknowledges_then_it_climbs_the_ladder_and_breaches_the_promise_counted_in_stats(tmp_path, broker, console):
    srv = start_server(tmp_path, broker, env={**FAST_CLOCKS, "SIAGA_ESCALATE_AFTER_S": "1",
                                              "SIAGA_ESCALATE_HEAD_AFTER_S": "3", "SIAGA_RESPONSE_PROMISE_S": "8",
                                              "SIAGA_SUPERVISE_EVERY_S": "0.5"})
    try:
        with buttons_on(srv, broker) as make:
            btn = make("btn-ladder", site="Pasar Kosambi", lat=-6921000, lon=107617000, category="fire")
            p = console().login(srv.base_url, "operator", USERS["operator"])
            btn.press()
            p.page.wait_for_selector("#queue [data-incident] .tag[data-escalation='1']")
            assert "escalated to the supervisor" in p.page.inner_text("#queue [data-incident] .tag[data-escalation='1']")
            p.page.wait_for_selector("#queue [data-incident] .tag[data-escalation='2']")
            assert "escalated to the center head" in p.page.inner_text("#queue [data-incident] .tag[data-escalation='2']")
            inc_id = int(p.page.get_attribute("#queue [data-incident]", "data-incident"))
            p.page.wait_for_selector(f"#queue [data-incident='{inc_id}'].breached .tag.breach")
            assert wait_until(lambda: any(a["action"] == "promise_breached"
                                          for a in srv.api("GET", f"/incidents/{inc_id}").json()["audit"]))
            audit = srv.api("GET", f"/incidents/{inc_id}").json()["audit"]
            rungs = [a["detail"].split(":")[0] for a in audit if a["action"] == "escalated"]
            assert rungs == ["to the supervisor (dispatcher)", "to the center head (admin)"]
            board = srv.api("GET", "/center/promise").json()
            assert [b["id"] for b in board["breached"]] == [inc_id]
            assert board["breached"][0]["escalation"] == {"level": 2, "to": "center_head", "role": "admin"}
            [row] = [r for r in srv.api("GET", "/stats").json() if r["agency"] == "damkar"]
            assert row["promise_breached"] == 1
            p.page.keyboard.press("4")
            cell = p.page.wait_for_selector("#stats-table tr[data-agency='damkar'] td.stats-breached.breached")
            assert cell.inner_text() == "1"
            assert p.errors == [] and p.outside_requests == []
    finally:
        srv.stop()
