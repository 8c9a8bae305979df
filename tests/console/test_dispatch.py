"""Dispatch from the console: a dispatcher assigns the recommended unit by clicks (and by the D key),
and the unit's tracker — a registered tracker device on the real broker — receives the order."""
from __future__ import annotations

from tests.console.conftest import USERS, Tracker, start_server, wait_until


def test_given_an_sos_and_two_ambulances_when_the_dispatcher_assigns_the_recommended_one_by_clicks_then_its_tracker_gets_the_order_and_the_incident_resolves_on_scene(server, console, make_button, trackers):
    near = trackers("trk-amb-01", "AMB-01", "Ambulans 01", -6920000, 107608000)   # about 0.2 km away
    far = trackers("trk-amb-02", "AMB-02", "Ambulans 02", -6950000, 107700000)    # about 10 km away
    btn = make_button("btn-alun-alun")
    p = console().login(server.base_url, "dispatcher", USERS["dispatcher"])
    p.page.keyboard.press("2")
    p.page.wait_for_selector("#units-board tr[data-unit='AMB-01']")
    p.page.keyboard.press("1")
    btn.press()
    p.page.click("#queue [data-incident]")
    p.page.click("button[data-act=acknowledge]")
    p.page.wait_for_selector("#inc-state:has-text('acknowledged')")
    p.page.wait_for_selector("#inc-recos .reco")
    # The nearest available ambulance comes first, with its ETA and the reasons.
    assert p.page.get_attribute("#inc-recos .reco", "data-unit") == "AMB-01"
    assert "ETA" in p.page.inner_text("#inc-recos .reco") and p.page.inner_text("#inc-recos .reco .why").strip()
    p.screenshot("incident")
    p.page.click("#inc-recos .reco[data-unit='AMB-01'] button[data-act=assign]")
    p.page.wait_for_selector("#confirm-dialog[open]")
    assert "Ambulans 01" in p.page.inner_text("#confirm-title")
    p.page.click("#confirm-ok")
    orders = wait_until(near.orders, timeout=10)
    inc_id = int(p.page.get_attribute("[data-incident-view]", "data-incident-view"))
    assert [(o["inc"], o["cat"]) for o in orders] == [(inc_id, "medical")]
    assert far.orders() == []
    p.page.wait_for_selector("#inc-assignments tr")
    assert wait_until(lambda: server.api("GET", f"/incidents/{inc_id}").json()["state"] == "dispatched")
    p.page.wait_for_selector("#inc-state:has-text('dispatched')")
    p.page.keyboard.press("2")
    p.page.wait_for_selector(f"#units-board tr[data-unit='AMB-01'] td:has-text('#{inc_id}')")
    # The crew accepts and drives to the scene: dispatch sets "on scene", the clock stops, and the
    # operator can resolve with one click and a confirmation.
    near.answer(orders[0])
    p.page.keyboard.press("1")

    def arrived():
        # 0.2 km from its last fix: repeated each second until the filter finds the speed plausible.
        near.report(btn.lat, btn.lon)
        return wait_until(lambda: p.page.locator("#inc-state:has-text('onscene')").count() == 1, timeout=1)
    assert wait_until(arrived, timeout=15)
    # ... and live: the board keeps the unit's incident once it is on scene.
    p.page.keyboard.press("2")
    p.page.wait_for_selector(f"#units-board tr[data-unit='AMB-01'] td:has-text('#{inc_id}')")
    p.page.keyboard.press("1")
    p.page.wait_for_selector(f"[data-incident-view='{inc_id}']")
    scene = p.page.inner_text("#inc-clocks div:nth-child(3)")
    assert "running" not in scene
    p.page.click("button[data-act=resolved]")
    p.page.wait_for_selector("#confirm-dialog[open]")
    p.page.click("#confirm-ok")
    assert wait_until(lambda: server.api("GET", f"/incidents/{inc_id}").json()["state"] == "resolved")
    p.page.wait_for_selector("#queue [data-incident]", state="detached")
    assert p.errors == [] and p.outside_requests == []


def test_given_an_acknowledged_sos_when_the_dispatcher_presses_d_and_enter_then_the_top_unit_is_ordered(server, console, make_button, trackers):
    amb = trackers("trk-amb-03", "AMB-03", "Ambulans 03", -6915000, 107609000)
    btn = make_button("btn-keyboard")
    p = console().login(server.base_url, "dispatcher", USERS["dispatcher"])
    btn.press()
    p.page.wait_for_selector("#queue [data-incident]")
    p.page.keyboard.press("j")
    p.page.wait_for_selector("[data-incident-view]")
    p.page.keyboard.press("a")
    p.page.wait_for_selector("#inc-recos .reco")
    p.page.keyboard.press("d")
    p.page.wait_for_selector("#confirm-dialog[open]")
    p.page.keyboard.press("Enter")
    assert wait_until(amb.orders, timeout=10)
    assert p.errors == []


def test_given_a_short_stale_limit_when_a_unit_stops_reporting_then_the_board_and_the_map_grey_it(tmp_path, broker, console):
    srv = start_server(tmp_path, broker, env={"SIAGA_CONSOLE_STALE_FIX_S": "3"})
    tracker = None
    try:
        tracker = Tracker(srv, broker, "trk-amb-09", "AMB-09", "Ambulans 09", -6914000, 107629000)
        p = console().login(srv.base_url, "viewer", USERS["viewer"])
        # A fix once the console is up: logging in on a loaded machine can take longer than the limit.
        tracker.report(-6914000, 107629000)
        p.page.wait_for_selector("#map .unit-icon:not(.stale) [data-unit='AMB-09']")
        p.page.keyboard.press("2")
        p.page.wait_for_selector("#units-board tr[data-unit='AMB-09'] td:has-text('stale')", timeout=8000)
        p.page.keyboard.press("1")
        p.page.wait_for_selector("#map .unit-icon.stale [data-unit='AMB-09']", timeout=5000)
        # A new fix brings it back.
        tracker.report(-6914100, 107629100)
        p.page.wait_for_selector("#map .unit-icon:not(.stale) [data-unit='AMB-09']", timeout=8000)
        assert p.errors == []
    finally:
        if tracker:
            tracker.close()
        srv.stop()


def primary_actions(p) -> list[tuple[str, bool]]:
    """The incident view's primary buttons: (action, enabled)."""
    return p.page.eval_on_selector_all("#incident-pane button.primary", "els => els.map(e => [e.dataset.act, !e.disabled])")


def test_given_an_sos_followed_to_the_scene_then_the_one_primary_action_follows_its_state_and_the_units_board_shows_the_unit_on_scene(server, console, make_button, trackers):
    near = trackers("trk-amb-31", "AMB-31", "Ambulans 31", -6920000, 107608000)
    trackers("trk-amb-32", "AMB-32", "Ambulans 32", -6950000, 107700000)  # still free: still recommended as backup
    btn = make_button("btn-state")
    p = console().login(server.base_url, "dispatcher", USERS["dispatcher"])
    btn.press()
    p.page.click("#queue [data-incident]")
    inc_id = int(p.page.get_attribute("#queue [data-incident]", "data-incident"))
    p.page.wait_for_selector(f"[data-incident-view='{inc_id}']")
    p.page.wait_for_selector("#inc-recos .reco")
    # new: acknowledge is the one primary action (the recommendations wait their turn).
    assert wait_until(lambda: primary_actions(p) == [["acknowledge", True]], timeout=5), primary_actions(p)
    p.page.keyboard.press("a")
    p.page.wait_for_selector("#inc-state:has-text('acknowledged')")
    p.page.wait_for_selector("#inc-recos .reco")
    # acknowledged: assigning the top recommended unit is.
    assert primary_actions(p) == [["assign", True]]
    assert p.page.get_attribute("#incident-pane button.primary", "data-unit") == "AMB-31"
    p.page.keyboard.press("d")
    p.page.wait_for_selector("#confirm-dialog[open]")
    p.page.keyboard.press("Enter")
    orders = wait_until(near.orders, timeout=10)
    p.page.wait_for_selector("#inc-state:has-text('dispatched')")
    # Units out: resolve is next, greyed until one is on scene; a backup unit is a secondary choice.
    assert wait_until(lambda: primary_actions(p) == [["resolved", False]], timeout=5), primary_actions(p)
    near.answer(orders[0])

    def arrived():
        near.report(btn.lat, btn.lon)
        return wait_until(lambda: p.page.locator("#inc-state:has-text('onscene')").count() == 1, timeout=1)
    assert wait_until(arrived, timeout=15)
    p.page.wait_for_selector("#inc-recos .reco[data-unit='AMB-32']")
    assert wait_until(lambda: primary_actions(p) == [["resolved", True]], timeout=5), primary_actions(p)
    p.screenshot("incident-onscene")
    assert p.errors == [] and p.outside_requests == []


def test_given_a_unit_on_scene_when_the_dispatcher_opens_the_units_board_then_its_row_names_the_incident(server, console, make_button, trackers):
    amb = trackers("trk-amb-41", "AMB-41", "Ambulans 41", -6920000, 107608000)
    btn = make_button("btn-board")
    btn.press()
    inc_id = wait_until(lambda: server.api("GET", "/incidents", params={"open": "true"}).json())[0]["id"]
    assert server.api("POST", f"/incidents/{inc_id}/transition", json={"to_state": "acknowledged"}).status_code == 200
    assert server.api("POST", "/dispatch/assignments", json={"incident": inc_id, "unit": "AMB-41"}).status_code in (200, 201)
    amb.answer(wait_until(amb.orders, timeout=10)[0])

    def arrived():
        amb.report(btn.lat, btn.lon)
        return wait_until(lambda: server.api("GET", f"/incidents/{inc_id}").json()["state"] == "onscene", timeout=1)
    assert wait_until(arrived, timeout=15)
    # Opened after the arrival (loaded from REST) ...
    p = console().login(server.base_url, "dispatcher", USERS["dispatcher"])
    p.page.keyboard.press("2")
    p.page.wait_for_selector(f"#units-board tr[data-unit='AMB-41'] td:has-text('#{inc_id}')")
    p.screenshot("units")
    assert p.errors == [] and p.outside_requests == []


# Answers to GET /api/v1/incidents/<id> are fetched at once but handed to the console only when the
# test says: an answer written before a change arrives after that change's feed event, as on a busy
# network. (In the page, not page.route: a Python handler runs only inside a Playwright call.)
HOLD_INCIDENT_READS = """
(() => {
  const real = window.fetch.bind(window);
  window.heldReads = [];
  window.holdReads = false;
  window.fetch = async (input, init) => {
    const url = typeof input === "string" ? input : input.url;
    const answer = await real(input, init);
    if (window.holdReads && /\\/api\\/v1\\/incidents\\/\\d+(\\?|$)/.test(new URL(url, location.href).pathname)) {
      await new Promise((release) => window.heldReads.push(release));
    }
    return answer;
  };
  window.releaseReads = () => { window.holdReads = false; window.heldReads.splice(0).forEach((r) => r()); };
})();
"""


def test_given_a_read_of_an_acknowledged_sos_on_its_way_when_a_unit_is_assigned_then_the_queue_shows_it_on_the_way(server, console, make_button, trackers):
    """The console read the incident (a note was added) while it was acknowledged; a unit was ordered
    before that answer arrived. The older answer must not put the incident back under "To dispatch",
    where a dispatcher would send a second unit."""
    trackers("trk-amb-21", "AMB-21", "Ambulans 21", -6915000, 107609000)
    btn = make_button("btn-race")
    p = console()
    p.page.add_init_script(HOLD_INCIDENT_READS)
    p.login(server.base_url, "dispatcher", USERS["dispatcher"])
    btn.press()
    row = p.page.wait_for_selector("#queue [data-incident]")
    inc_id = int(row.get_attribute("data-incident"))
    assert server.api("POST", f"/incidents/{inc_id}/transition", json={"to_state": "acknowledged"}).status_code == 200
    p.page.wait_for_selector(f"#queue .q-group[data-group='acknowledged']")
    p.page.evaluate("() => { window.holdReads = true; }")
    assert server.api("POST", f"/incidents/{inc_id}/notes", json={"text": "caller on the line"}).status_code == 201
    p.page.wait_for_function("() => window.heldReads.length > 0")   # the note made the console read it: held
    assert server.api("POST", "/dispatch/assignments", json={"incident": inc_id, "unit": "AMB-21"}).status_code in (200, 201)
    assert server.api("GET", f"/incidents/{inc_id}").json()["state"] == "dispatched"
    p.page.wait_for_selector("#queue .q-group[data-group='out']")   # the transition's own event came
    p.page.evaluate("() => window.releaseReads()")                     # then the answer written before it
    p.page.wait_for_timeout(1500)   # any further read lands
    groups = p.page.eval_on_selector_all("#queue .q-group", "els => els.map(e => e.dataset.group)")
    assert groups == ["out"], groups
    assert p.page.locator(f"#queue [data-incident='{inc_id}'] .state").inner_text().lower() == "dispatched"
    assert p.errors == []
