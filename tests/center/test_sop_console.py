"""The run card checklist in headless Chromium against the real server and broker: a fire SOS
shows Damkar's card on the incident view; the operator ticks a step, which is timed, audited
(who, when) and shown ticked with who did it; a viewer sees the card and cannot tick."""
from __future__ import annotations

from tests.console.conftest import USERS


def test_given_a_fire_sos_when_the_operator_ticks_a_run_card_step_then_it_is_shown_timed_and_audited(server, console, make_button):
    btn = make_button("btn-fire-sop", category="fire")
    p = console().login(server.base_url, "operator", USERS["operator"])
    btn.press()
    p.page.wait_for_selector("#queue [data-incident]")
    p.page.keyboard.press("j")
    p.page.wait_for_selector("#sop-card[data-card='damkar-fire']")
    inc_id = int(p.page.get_attribute("[data-incident-view]", "data-incident-view"))
    assert "Notify the Damkar post commander" in p.page.inner_text("#sop-card")
    assert p.page.text_content("#sop-done") == "0 of 6 done"
    p.page.check("#sop-card input[data-sop-step='trapped']")
    p.page.wait_for_selector("#sop-card li.sop-step.ticked[data-step='trapped']")
    who = p.page.inner_text("li[data-step='trapped'] .sop-who")
    assert who.startswith("operator at ")
    assert p.page.is_disabled("input[data-sop-step='trapped']")
    assert not p.page.is_disabled("input[data-sop-step='location']")
    assert p.page.text_content("#sop-done") == "1 of 6 done"
    detail = server.api("GET", f"/incidents/{inc_id}").json()
    [entry] = [a for a in detail["audit"] if a["action"] == "sop_step_ticked"]
    assert (entry["actor"], entry["to"], entry["detail"]) == ("operator", "trapped", "damkar-fire")
    card = server.api("GET", f"/incidents/{inc_id}/sop").json()["card"]
    ticked = {s["id"]: s["ticked"] for s in card["steps"]}
    assert ticked["trapped"]["by"] == "operator" and ticked["trapped"]["at"] == entry["at"]
    assert ticked["location"] is None
    assert p.errors == [] and p.outside_requests == []

    v = console().login(server.base_url, "viewer", USERS["viewer"])
    v.page.wait_for_selector("#queue [data-incident]")
    v.page.click(f"#queue [data-incident='{inc_id}']")
    v.page.wait_for_selector("#sop-card li.sop-step.ticked[data-step='trapped']")
    assert v.page.is_disabled("input[data-sop-step='location']")
    assert v.errors == []
