"""The operator console in headless Chromium against the real fleet server and a real Mosquitto.
Each test reads as a specification: given ..., when ..., then ...; screenshots of the main views are
written to docs/screenshots/ at 1366x768."""
from __future__ import annotations

import httpx

from tests.console.conftest import USERS, buttons_on, start_server, wait_until


def incident_state(server, incident_id: int) -> str:
    return server.api("GET", f"/incidents/{incident_id}").json()["state"]


def only_incident(server) -> dict:
    found = wait_until(lambda: server.api("GET", "/incidents", params={"open": "true"}).json())
    assert len(found) == 1, found
    return found[0]


def test_given_the_server_when_a_browser_opens_the_root_then_it_lands_on_the_login_of_a_console_that_needs_no_internet(server, console):
    r = httpx.get(server.base_url + "/", follow_redirects=False, timeout=5)
    assert r.status_code == 307 and r.headers["location"] == "/console/"
    p = console()
    p.page.goto(server.base_url + "/")
    p.page.wait_for_selector("#login-form")
    assert p.page.url.endswith("/console/")
    p.screenshot("login")
    p.page.fill("#login-user", "operator")
    p.page.fill("#login-pass", "wrong-password")
    p.page.click("#login-submit")
    p.page.wait_for_selector("#login-error:has-text('Wrong user name or password')")
    assert p.page.is_hidden("#topbar")
    p.login(server.base_url, "operator", USERS["operator"])
    assert p.page.inner_text("#whoami") == "operator · operator"
    # The city is drawn from the station areas (no tile server): police polygons and the outline.
    assert p.page.locator("#map path.leaflet-interactive").count() >= 20
    assert p.outside_requests == [], "the console asked the internet for something"
    assert p.errors == []


def test_given_a_logged_in_dispatcher_when_a_citizen_presses_a_button_then_the_sos_appears_in_the_queue_and_on_the_map_without_reload(server, console, make_button):
    btn = make_button("btn-alun-alun")
    p = console().login(server.base_url, "dispatcher", USERS["dispatcher"])
    loads = p.navigations
    assert p.page.locator("#queue [data-incident]").count() == 0
    btn.press()
    row = p.page.wait_for_selector("#queue [data-incident]")
    inc = only_incident(server)
    assert row.get_attribute("data-incident") == str(inc["id"])
    assert "Taman Alun-alun Bandung" in row.inner_text()
    p.page.wait_for_selector(f"#map [data-incident='{inc['id']}']")
    # The cue: a beep (WebAudio, counted by the page) and the SOS toast, with no page reload.
    assert wait_until(lambda: p.page.evaluate("window.siagaBeeps || 0") >= 1, timeout=5)
    assert "New SOS" in p.page.inner_text("#toast")
    assert p.navigations == loads
    # The queue clock runs by itself and turns amber, then red, at the (accelerated) thresholds,
    # and the map marker follows the same cue.
    assert p.page.get_attribute("#queue .clock", "class") == "clock "
    first = p.page.inner_text("#queue .clock")
    assert wait_until(lambda: p.page.inner_text("#queue .clock") != first, timeout=3)
    p.page.wait_for_selector("#queue .clock.amber", timeout=8000)
    p.page.wait_for_selector("#queue .clock.red", timeout=8000)
    p.page.wait_for_selector(f"#map .inc-icon[data-incident='{inc['id']}'][data-cue='red']", timeout=6000)
    assert p.errors == [] and p.outside_requests == []


def test_given_an_sos_when_the_operator_acknowledges_notes_and_closes_it_as_a_prank_by_clicks_then_the_device_prank_count_rises(server, console, make_button):
    btn = make_button("btn-dago", site="Jl. Ir. H. Juanda (Dago)", lat=-6885000, lon=107613000, category="police")
    p = console().login(server.base_url, "operator", USERS["operator"])
    btn.press(presses=3)
    p.page.click("#queue [data-incident]")
    inc = only_incident(server)
    p.page.wait_for_selector(f"[data-incident-view='{inc['id']}']")
    p.page.click("button[data-act=acknowledge]")
    assert wait_until(lambda: incident_state(server, inc["id"]) == "acknowledged")
    p.page.wait_for_selector("#inc-state:has-text('acknowledged')")
    assert p.page.locator("button[data-act=acknowledge]").count() == 0
    p.page.fill("#note-text", "caller hung up; children heard laughing")
    p.page.click("#note-form button")
    p.page.wait_for_selector(".timeline li:has-text('children heard laughing')")
    notes = server.api("GET", f"/incidents/{inc['id']}").json()["notes"]
    assert [(n["author"], n["text"]) for n in notes] == [("operator", "caller hung up; children heard laughing")]
    p.page.click("button[data-act=prank]")
    p.page.wait_for_selector("#confirm-dialog[open]")
    assert "counts against device btn-dago" in p.page.inner_text("#confirm-text")
    p.screenshot("close-confirm")
    p.page.click("#confirm-ok")
    assert wait_until(lambda: incident_state(server, inc["id"]) == "prank")
    p.page.wait_for_selector("#queue [data-incident]", state="detached")
    assert wait_until(lambda: server.api("GET", "/devices/btn-dago").json()["prank_count"] == 1)
    audit = server.api("GET", f"/incidents/{inc['id']}").json()["audit"]
    assert [a["to"] for a in audit if a["actor"] == "operator" and a["action"] == "transition"] == ["acknowledged", "prank"]
    # The devices page shows the new count without a reload.
    p.page.keyboard.press("3")
    p.page.wait_for_selector("#devices-table tr[data-device='btn-dago'] .prank-count:has-text('1')")
    assert p.errors == []


def test_given_a_viewer_when_an_sos_is_open_then_the_incident_view_shows_no_action_buttons_and_keys_do_nothing(server, console, make_button):
    # A site name typed by a technician is shown as text, never run as markup.
    btn = make_button("btn-viewer", site="<img src=x onerror=window.pwned=1> Pasar Baru")
    p = console().login(server.base_url, "viewer", USERS["viewer"])
    btn.press()
    p.page.click("#queue [data-incident]")
    inc = only_incident(server)
    p.page.wait_for_selector(f"[data-incident-view='{inc['id']}']")
    assert p.page.locator("#incident-pane button").count() == 0
    assert "<img src=x" in p.page.inner_text("#queue [data-incident]")
    assert p.page.locator("#queue img, #incident-pane img").count() == 0
    assert p.page.evaluate("window.pwned") is None
    assert p.page.locator("#note-form").count() == 0
    p.page.keyboard.press("a")
    p.page.keyboard.press("p")
    assert p.page.locator("#confirm-dialog[open]").count() == 0
    assert incident_state(server, inc["id"]) == "new"
    assert p.errors == []


def test_given_an_operator_when_using_only_the_keyboard_then_j_selects_the_most_urgent_incident_and_a_acknowledges_it(server, console, make_button):
    low = make_button("btn-tamper-test", category="unknown")
    high = make_button("btn-hospital", site="RS Hasan Sadikin", lat=-6896000, lon=107598000)
    p = console().login(server.base_url, "operator", USERS["operator"])
    low.press()
    p.page.wait_for_selector("#queue [data-incident]")
    high.press()
    wait_until(lambda: p.page.locator("#queue [data-incident]").count() == 2)
    # Both wait to be acknowledged: priority first (a medical SOS outranks an unknown one that triage
    # must sort), then newest first.
    ids = [int(x) for x in p.page.eval_on_selector_all("#queue [data-incident]", "els => els.map(e => e.dataset.incident)")]
    incs = {i["id"]: i for i in server.api("GET", "/incidents", params={"open": "true"}).json()}
    assert [incs[i]["priority"] for i in ids] == sorted(incs[i]["priority"] for i in ids)
    p.page.keyboard.press("j")
    p.page.wait_for_selector(f"[data-incident-view='{ids[0]}']")
    p.page.keyboard.press("a")
    assert wait_until(lambda: incident_state(server, ids[0]) == "acknowledged")
    # Acknowledged, it moves to the "to dispatch" group, below the one still waiting; it stays selected.
    assert wait_until(lambda: [int(x) for x in p.page.eval_on_selector_all(
        "#queue [data-incident]", "els => els.map(e => e.dataset.incident)")] == [ids[1], ids[0]], timeout=5)
    p.page.keyboard.press("k")
    p.page.wait_for_selector(f"[data-incident-view='{ids[1]}']")
    p.page.keyboard.press("j")
    p.page.wait_for_selector(f"[data-incident-view='{ids[0]}']")
    p.page.keyboard.press("?")
    p.page.wait_for_selector("#help-dialog[open]")
    p.page.keyboard.press("Escape")
    assert p.errors == []


def test_given_a_live_console_when_the_server_drops_the_feed_then_it_reconnects_by_itself_and_shows_new_alarms(server, console, make_button):
    btn = make_button("btn-reconnect")
    p = console().login(server.base_url, "dispatcher", USERS["dispatcher"])
    loads = p.navigations
    assert p.page.evaluate("window.siagaFeed.connects") == 1
    # Record what the operator sees in the header while the link is down (restart() returns only
    # once the server is up again, by when the console may already be back).
    p.page.evaluate("""() => { window.feedStates = [];
      new MutationObserver(() => window.feedStates.push(document.getElementById('feed-state').dataset.state))
        .observe(document.getElementById('feed-state'), {attributes: true}); }""")
    server.restart()  # same port and database: every WebSocket is closed by the server
    # A function, not an expression: an expression would need eval, which the CSP refuses.
    p.page.wait_for_function("() => window.siagaFeed.connects === 2", timeout=20_000)
    p.page.wait_for_selector("#feed-state[data-state=live]")
    assert "reconnecting" in p.page.evaluate("window.feedStates")
    btn.press()
    p.page.wait_for_selector("#queue [data-incident]")
    assert p.navigations == loads
    assert p.errors == []


def test_given_a_city_of_buttons_in_every_health_when_a_technician_looks_then_map_devices_units_and_statistics_show_it(tmp_path, broker, console):
    # A device is flagged at its first prank here, so the flag shows without three closures.
    srv = start_server(tmp_path, broker, env={"SIAGA_PRANK_FLAG_THRESHOLD": "1"})
    try:
        with buttons_on(srv, broker) as make:
            stasiun = make("btn-stasiun", site="Stasiun Bandung", lat=-6914000, lon=107602000)
            gedebage = make("btn-gedebage", site="Pasar Gedebage", lat=-6940000, lon=107690000, category="fire")
            dago = make("btn-dago-atas", site="Terminal Dago", lat=-6873000, lon=107620000, category="police")
            cibiru = make("btn-cibiru", site="Alun-alun Cibiru", lat=-6918000, lon=107718000, category="police")
            sekolah = make("btn-sd-cicendo", site="SDN Cicendo", lat=-6907000, lon=107596000)
            stasiun.health(pct=88)
            gedebage.health(pct=12)
            dago.health(pct=70, tamper=True)
            cibiru.status("offline")
            for b in (stasiun, gedebage, sekolah):
                b.press()
            assert wait_until(lambda: len(srv.api("GET", "/incidents", params={"open": "true"}).json()) == 3)
            by_device = {i["origin_device_id"]: i["id"] for i in srv.api("GET", "/incidents", params={"open": "true"}).json()}
            assert srv.api("POST", f"/incidents/{by_device['btn-stasiun']}/transition", json={"to_state": "acknowledged"}).status_code == 200
            assert srv.api("POST", f"/incidents/{by_device['btn-sd-cicendo']}/transition",
                           json={"to_state": "prank", "reason": "children playing, confirmed by phone"}).status_code == 200

            p = console().login(srv.base_url, "technician", USERS["technician"])
            for health in ("online", "low-battery", "tamper", "offline", "prank-flagged"):
                p.page.wait_for_selector(f"#map path.device-marker.health-{health}", state="attached")
            # Filters: agency, then a station of that agency.
            p.page.select_option("#filter-agency", "damkar")
            assert p.page.locator("#queue [data-incident]").count() == 1
            assert "Pasar Gedebage" in p.page.inner_text("#queue [data-incident]")
            fire_station = srv.api("GET", f"/incidents/{by_device['btn-gedebage']}").json()["station"]["id"]
            options = p.page.eval_on_selector_all("#filter-station option", "els => els.map(e => e.value)")
            assert fire_station in options
            other = next(o for o in options if o and o != fire_station)
            p.page.select_option("#filter-station", other)
            assert p.page.locator("#queue [data-incident]").count() == 0
            p.page.select_option("#filter-station", fire_station)
            assert p.page.locator("#queue [data-incident]").count() == 1
            p.page.select_option("#filter-station", "")
            p.page.select_option("#filter-agency", "")
            assert p.page.locator("#queue [data-incident]").count() == 2
            p.page.keyboard.press("j")
            p.page.wait_for_selector("[data-incident-view]")
            p.screenshot("queue")

            p.page.keyboard.press("3")
            health = dict(p.page.eval_on_selector_all("#devices-table tr[data-device]",
                                                      "els => els.map(e => [e.dataset.device, e.children[3].textContent])"))
            assert health == {"btn-dago-atas": "tamper", "btn-cibiru": "offline", "btn-sd-cicendo": "prank-flagged",
                              "btn-gedebage": "low battery", "btn-stasiun": "online"}
            # Worst first: the technician's list starts with what needs a visit.
            assert list(health)[:2] == ["btn-dago-atas", "btn-cibiru"]
            p.screenshot("devices")

            p.page.keyboard.press("4")
            p.page.wait_for_selector("#stats-table tr[data-agency]")
            rows = p.page.eval_on_selector_all("#stats-table tr[data-agency]",
                                               "els => els.map(e => [e.dataset.agency, e.children[1].textContent, e.children[2].textContent])")
            assert sorted(rows) == [["damkar", "1", "1"], ["dinkes", "2", "1"]]
            assert p.page.locator("#chart-agencies svg rect").count() == 4
            assert p.page.locator("#chart-to_acknowledge_s svg rect").count() == 2  # dinkes p50 and p90
            p.screenshot("stats")
            assert p.errors == [] and p.outside_requests == []
    finally:
        srv.stop()


def test_given_a_dialog_just_cancelled_when_the_next_opens_before_its_close_event_then_cancel_still_closes_it(server, console):
    """dialog.close() drops [open] at once and fires "close" as a later task: a key pressed in between
    opened the next dialog, whose Cancel the stale close event had unbound (the dialog stayed open)."""
    p = console().login(server.base_url, "operator", USERS["operator"])
    p.page.wait_for_selector("#queue-empty")
    answers = p.page.evaluate("""async () => {
        const m = await import("/console/static/js/alert.js");
        const first = m.confirmAction({ title: "first", text: "" });
        document.getElementById("confirm-cancel").click();                   // closed; its event is queued
        const second = m.confirmAction({ title: "second", text: "", reason: "why" });  // in the same task
        window.__second = second;
        return [await first, document.getElementById("confirm-dialog").open];
    }""")
    assert answers == [None, True], "the first is answered (cancelled), the second is on screen"
    p.page.click("#confirm-cancel")
    p.page.wait_for_selector("#confirm-dialog:not([open])", state="attached", timeout=3000)
    assert p.page.evaluate("window.__second") is None
