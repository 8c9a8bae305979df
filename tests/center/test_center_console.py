"""The center's work in the console, in headless Chromium against the real server and broker:
triage reclassifies an untyped button's SOS to an agency (its station and recommendation follow,
the audit says who and why), and a non-emergency is handed off from its own desk, never entering
the emergency queue."""
from __future__ import annotations

import httpx

from fleet_server.domain.jurisdiction import Jurisdiction
from tests.console.conftest import AREAS, USERS, wait_until

ALUN_ALUN = (-6921700, 107607000)


def token_of(server, role: str) -> str:
    r = httpx.post(server.base_url + "/api/v1/auth/token", data={"username": role, "password": USERS[role]}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def test_given_an_untyped_button_in_triage_when_the_dispatcher_reclassifies_it_by_keyboard_then_station_recommendation_and_audit_follow(server, console, make_button, trackers):
    trackers("trk-amb-21", "AMB-21", "Ambulans 21", -6920000, 107608000)
    btn = make_button("btn-untyped", category="unknown")
    p = console().login(server.base_url, "dispatcher", USERS["dispatcher"])
    btn.press()
    p.page.wait_for_selector("#queue [data-incident]")
    p.page.keyboard.press("j")
    p.page.wait_for_selector("[data-incident-view]")
    inc_id = int(p.page.get_attribute("[data-incident-view]", "data-incident-view"))
    before = server.api("GET", f"/incidents/{inc_id}").json()
    assert (before["category"], before["agency"], before["station"]["id"]) == ("unknown", "triage", "112")
    assert wait_until(lambda: server.api("GET", f"/dispatch/incidents/{inc_id}/recommendations").status_code == 200)
    assert server.api("GET", f"/dispatch/incidents/{inc_id}/recommendations").json()["picks"] == []
    # Keyboard only: C reaches the form, Tab walks it, Enter in the reason submits.
    p.page.keyboard.press("c")
    assert p.page.evaluate("document.activeElement.id") == "reclass-category"
    p.page.select_option("#reclass-category", "medical")
    p.page.focus("#reclass-reason")
    p.page.keyboard.type("caller says her father collapsed, not breathing")
    p.page.keyboard.press("Enter")
    p.page.wait_for_selector("#inc-recos .reco[data-unit='AMB-21']")
    after = server.api("GET", f"/incidents/{inc_id}").json()
    medical = Jurisdiction.load(AREAS).locate(*ALUN_ALUN, "medical")
    assert (after["category"], after["agency"], after["priority"]) == ("medical", "dinkes", 2)
    assert after["station"]["id"] == medical["id"]
    assert medical["name"] in p.page.inner_text(".inc-head")
    picks = server.api("GET", f"/dispatch/incidents/{inc_id}/recommendations").json()["picks"]
    assert [x["unit"] for x in picks] == ["AMB-21"]
    [entry] = [a for a in after["audit"] if a["action"] == "reclassified"]
    assert (entry["actor"], entry["from"], entry["to"]) == ("dispatcher", "unknown/triage/P2", "medical/dinkes/P2")
    assert entry["detail"].startswith("caller says her father collapsed")
    assert "reclassified" in p.page.inner_text(".timeline") and "dispatcher" in p.page.inner_text(".timeline")
    assert p.errors == [] and p.outside_requests == []


def test_given_a_viewer_then_the_incident_view_has_no_reclassify_control_and_the_api_refuses(server, console, make_button):
    btn = make_button("btn-untyped-2", category="unknown")
    p = console().login(server.base_url, "viewer", USERS["viewer"])
    btn.press()
    p.page.wait_for_selector("#queue [data-incident]")
    p.page.keyboard.press("j")
    p.page.wait_for_selector("[data-incident-view]")
    assert p.page.locator("#reclassify-form").count() == 0
    inc_id = int(p.page.get_attribute("[data-incident-view]", "data-incident-view"))
    r = server.api("POST", f"/incidents/{inc_id}/reclassify", token=token_of(server, "viewer"),
                   json={"category": "fire", "priority": 1, "reason": "x"})
    assert r.status_code == 403 and r.json()["code"] == "insufficient_role"


def test_given_a_non_emergency_when_handed_off_on_the_desk_then_it_is_closed_with_a_reference_and_never_in_the_emergency_queue(server, console, make_button):
    btn = make_button("btn-sos-desk")
    p = console().login(server.base_url, "operator", USERS["operator"])
    btn.press()
    p.page.wait_for_selector("#queue [data-incident]")
    p.page.keyboard.press("5")
    p.page.wait_for_selector("#desk-new")
    p.page.fill("#desk-number", "0812 3456 7890")
    p.page.fill("#desk-summary", "street light out on Jl. Dago since last week")
    p.page.press("#desk-summary", "Enter")
    row = p.page.locator("#desk-list tr[data-report]")
    row.wait_for()
    rep_id = int(row.get_attribute("data-report"))
    assert "+62812*****890" in row.inner_text()   # a live event may redraw the desk: locators, not handles
    # Recorded like any report, but never in the emergency queue, in the console or the API.
    open_emergencies = server.api("GET", "/incidents", params={"type": "emergency", "open": "true"}).json()
    assert rep_id not in [i["id"] for i in open_emergencies] and len(open_emergencies) == 1
    p.page.keyboard.press("1")
    p.page.wait_for_selector("#queue [data-incident]")
    assert [int(x) for x in p.page.eval_on_selector_all("#queue [data-incident]", "els => els.map(e => e.dataset.incident)")] \
        == [i["id"] for i in open_emergencies]
    p.page.keyboard.press("5")
    form = f"form[data-hand-off='{rep_id}']"
    p.page.wait_for_selector(form)
    p.page.select_option(f"{form} select", "complaints")
    p.page.fill(f"{form} input[name=reference]", "LAPOR-2026-4411")
    p.page.click(f"{form} button")
    p.page.wait_for_selector(f"#desk-list tr[data-report='{rep_id}']", state="detached")
    rep = server.api("GET", f"/incidents/{rep_id}").json()
    assert rep["state"] == "handed_off" and "LAPOR-2026-4411" in rep["closure_reason"]
    [entry] = [a for a in rep["audit"] if a["action"] == "handed_off"]
    assert (entry["actor"], entry["to"]) == ("operator", "complaints") and "LAPOR-2026-4411" in entry["detail"]
    assert rep_id not in [i["id"] for i in server.api("GET", "/incidents", params={"open": "true"}).json()]
    p.page.keyboard.press("1")
    assert p.page.locator(f"#queue [data-incident='{rep_id}']").count() == 0
    assert p.errors == [] and p.outside_requests == []


def test_given_a_number_with_three_pranks_when_it_reports_again_then_the_report_arrives_marked_and_the_operator_sees_why(server, console):
    number = "+6281300000777"
    for n in range(3):
        rid = server.api("POST", "/incidents/reports", json={"category": "fire", "summary": f"fake fire {n}",
                                                             "caller_number": "0813 0000 0777"}).json()["id"]
        r = server.api("POST", f"/incidents/{rid}/transition", json={"to_state": "prank", "reason": "nothing there"})
        assert r.status_code == 200, r.text
    again = server.api("POST", "/incidents/reports", json={"category": "fire", "summary": "fire again",
                                                           "caller_number": number}).json()["id"]
    inc = server.api("GET", f"/incidents/{again}").json()              # an admin calls back: in full
    assert inc["prank_suspect"] is True and inc["caller"] == number
    viewer = server.login("viewer", USERS["viewer"])
    seen = server.api("GET", f"/incidents/{again}", viewer).json()     # a wall screen: masked
    assert seen["caller"] == "+62813*****777" and number not in str(seen)
    flag = server.api("GET", f"/incidents/{again}/caller").json()
    assert (flag["flag"]["count"], flag["flag"]["flagged"]) == (3, True) and flag["flag"]["last_prank_at"]
    p = console().login(server.base_url, "operator", USERS["operator"])
    p.page.keyboard.press("5")
    tag = p.page.locator(f"[data-caller-flag='{again}'].tag.warn")
    tag.wait_for()
    assert "number flagged: 3 pranks/false alarms, last" in tag.inner_text()
    audit = server.api("GET", "/audit", params={"entity": "caller"}).json()
    assert [(a["action"], a["entity_id"]) for a in audit] == [("prank_flagged", "+62813*****777")]
    assert p.errors == []


def test_given_an_operator_typing_a_reference_when_another_report_arrives_then_the_desk_keeps_what_they_typed(server, console):
    first = server.api("POST", "/incidents/reports", json={"category": "unknown", "summary": "pothole"}).json()["id"]
    p = console().login(server.base_url, "operator", USERS["operator"])
    p.page.keyboard.press("5")
    field = p.page.locator(f"form[data-hand-off='{first}'] input[name=reference]")
    field.click()
    p.page.keyboard.type("LAPOR-1")
    second = server.api("POST", "/incidents/reports", json={"category": "unknown", "summary": "noise"}).json()["id"]
    p.page.locator("#desk-view[data-deferred='1']").wait_for()   # the feed told the desk, which waits
    p.page.keyboard.type("23")
    assert field.input_value() == "LAPOR-123"
    p.page.keyboard.press("Tab")   # leaving the field: the desk catches up with the new report
    p.page.locator(f"#desk-list tr[data-report='{second}']").wait_for()
    assert p.errors == []


def test_given_a_redraw_on_its_way_when_the_operator_types_a_reference_then_it_lands_with_what_they_typed(server, console):
    """The desk fetched the open reports before the operator started typing, and the answer comes
    while they type: the new list keeps their text and their cursor (on a busy night the fetch is
    slow, and a reference typed into a form about to be replaced was lost)."""
    first = server.api("POST", "/incidents/reports", json={"category": "unknown", "summary": "pothole"}).json()["id"]
    p = console().login(server.base_url, "operator", USERS["operator"])
    p.page.keyboard.press("5")
    field = p.page.locator(f"form[data-hand-off='{first}'] input[name=reference]")
    field.wait_for()
    held = []
    desk_list = lambda url: "/api/v1/incidents?" in url and "type=report" in url  # noqa: E731
    holding = [True]
    p.page.route(desk_list, lambda route: held.append(route) if holding[0] else route.continue_())
    second = server.api("POST", "/incidents/reports", json={"category": "unknown", "summary": "noise"}).json()["id"]
    assert wait_until(lambda: p.page.evaluate("1") and held, 10), "the feed made the desk fetch its list again"
    field.click()
    p.page.keyboard.type("LAPOR-77")
    holding[0] = False
    for route in held:
        route.continue_()
    p.page.locator(f"#desk-list tr[data-report='{second}']").wait_for()   # the redraw landed
    assert field.input_value() == "LAPOR-77"
    assert p.page.evaluate("document.activeElement.name") == "reference"
    p.page.keyboard.type("8")
    assert field.input_value() == "LAPOR-778", "the cursor stayed where they were typing"
    assert p.errors == []
