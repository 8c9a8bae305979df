"""What a dispatcher sees at a glance on the command center's 1366x768 screen, with a city's worth of
open incidents: the newest SOS without scrolling, tags that are never cut off, a distinct look once
the 5-minute promise is broken, map markers that say which incident they are and stay apart, and a
legend that hides nothing. Real fleet server, real Mosquitto, headless Chromium."""
from __future__ import annotations

from tests.console.conftest import FAST_CLOCKS, MARKERS_SHOWN, USERS, Tracker, buttons_on, start_server, wait_until

# True when every pixel of the element is on screen: inside the viewport and inside every ancestor
# that clips (overflow other than visible), with no scrolling.
FULLY_SHOWN = """el => {
  const r = el.getBoundingClientRect();
  if (!r.width || !r.height) return false;
  for (let a = el.parentElement; a; a = a.parentElement) {
    const cs = getComputedStyle(a);
    if (cs.overflowX === 'visible' && cs.overflowY === 'visible') continue;
    const b = a.getBoundingClientRect();
    if (r.left < b.left - 0.5 || r.right > b.right + 0.5 || r.top < b.top - 0.5 || r.bottom > b.bottom + 0.5) return false;
  }
  return r.left >= 0 && r.top >= 0 && r.right <= innerWidth && r.bottom <= innerHeight;
}"""
# The element a click at the centre of this one would reach is this one (or inside it).
ON_TOP = """el => {
  const r = el.getBoundingClientRect();
  const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
  return !!hit && (hit === el || el.contains(hit));
}"""

# Thirteen buttons across Bandung, each more than the fold radius from the others, so each press is
# an incident of its own.
CITY = [
    ("btn-stasiun", "Stasiun Bandung", -6914000, 107602000, "medical"),
    ("btn-gedung-sate", "Gedung Sate", -6902500, 107618800, "police"),
    ("btn-pasar-baru", "Pasar Baru", -6917500, 107604500, "fire"),
    ("btn-hasan-sadikin", "RS Hasan Sadikin", -6896000, 107598000, "medical"),
    ("btn-dago", "Jl. Ir. H. Juanda (Dago)", -6885000, 107613000, "police"),
    ("btn-leuwipanjang", "Terminal Leuwipanjang", -6945000, 107593000, "medical"),
    ("btn-kiaracondong", "Stasiun Kiaracondong", -6925000, 107646000, "fire"),
    ("btn-gedebage", "Pasar Gedebage", -6940000, 107690000, "fire"),
    ("btn-ujungberung", "Alun-alun Ujungberung", -6912000, 107700000, "police"),
    ("btn-cibiru", "Alun-alun Cibiru", -6918000, 107718000, "medical"),
    ("btn-antapani", "Taman Antapani", -6913000, 107660000, "disaster"),
    ("btn-buah-batu", "Jl. Buah Batu", -6948000, 107632000, "medical"),
    ("btn-alun-alun", "Taman Alun-alun Bandung", -6921700, 107607000, "medical"),
]


def open_incidents(server) -> dict[int, dict]:
    return {i["id"]: i for i in server.api("GET", "/incidents", params={"open": "true"}).json()}


def queue_ids(p) -> list[int]:
    return [int(x) for x in p.page.eval_on_selector_all("#queue [data-incident]", "els => els.map(e => e.dataset.incident)")]


def press_and_wait(server, button, count: int) -> int:
    """Press, and return the new incident's id once the server has it (so receipt times are ordered)."""
    before = set(open_incidents(server))
    button.press()
    assert wait_until(lambda: len(open_incidents(server)) == count, timeout=10)
    (new,) = set(open_incidents(server)) - before
    return new


# The order docs/console.md promises: to acknowledge, to dispatch, units on the way, on scene,
# reports; then priority; then newest first.
GROUP = {"new": 0, "acknowledged": 1, "dispatched": 2, "enroute": 2, "onscene": 3}


def expected_order(incidents: dict[int, dict]) -> list[int]:
    def key(i):
        group = 4 if i["type"] == "report" else GROUP[i["state"]]
        return (group, i["priority"], -i["clocks"]["received_at"], -i["id"])
    return [i["id"] for i in sorted(incidents.values(), key=key)]


def expected_groups(incidents: dict[int, dict]) -> list[str]:
    """The queue's group headings, in order, for the incidents' states as the server has them."""
    named = {0: "new", 1: "acknowledged", 2: "out", 3: "onscene", 4: "report"}
    return [named[g] for g in sorted({4 if i["type"] == "report" else GROUP[i["state"]] for i in incidents.values()})]


def test_given_twelve_open_incidents_at_1366x768_when_a_new_sos_arrives_then_it_is_the_top_row_seen_without_scrolling(tmp_path, broker, console):
    # A promise short enough that the older incidents are past it by the time the city is set up:
    # the screenshot shows the queue as it looks late in a busy night.
    srv = start_server(tmp_path, broker, env={**FAST_CLOCKS, "SIAGA_RESPONSE_PROMISE_S": "20", "SIAGA_ESCALATE_AFTER_S": "8"})
    tracker = None
    try:
        tracker = Tracker(srv, broker, "trk-amb-11", "AMB-11", "Ambulans 11", -6916000, 107606000)
        with buttons_on(srv, broker) as make:
            buttons = [make(d, site=s, lat=lat, lon=lon, category=c) for d, s, lat, lon, c in CITY]
            p = console().login(srv.base_url, "dispatcher", USERS["dispatcher"])
            ids = [press_and_wait(srv, b, n) for n, b in enumerate(buttons[:12], start=1)]
            # The dispatcher has already picked up some: three acknowledged, one with a unit on the way.
            for inc_id in ids[:3]:
                assert srv.api("POST", f"/incidents/{inc_id}/transition", json={"to_state": "acknowledged"}).status_code == 200
            assert srv.api("POST", "/dispatch/assignments", json={"incident": ids[0], "unit": "AMB-11"}).status_code in (200, 201)
            assert wait_until(lambda: open_incidents(srv)[ids[0]]["state"] == "dispatched")
            assert wait_until(lambda: len(queue_ids(p)) == 12)

            newest = press_and_wait(srv, buttons[12], 13)
            assert wait_until(lambda: len(queue_ids(p)) == 13)
            # The SOS that just beeped is the first row, wholly on screen, with the queue unscrolled.
            assert queue_ids(p)[0] == newest
            row = p.page.query_selector(f"#queue [data-incident='{newest}']")
            assert row.evaluate(FULLY_SHOWN)
            assert p.page.eval_on_selector("#queue-pane", "e => e.scrollTop") == 0
            # And the whole queue follows the documented order, with the groups named on screen.
            assert wait_until(lambda: queue_ids(p) == expected_order(open_incidents(srv)), timeout=5), \
                (queue_ids(p), expected_order(open_incidents(srv)))
            groups = lambda: p.page.eval_on_selector_all("#queue .q-group", "els => els.map(e => e.dataset.group)")
            assert wait_until(lambda: groups() == expected_groups(open_incidents(srv)), timeout=5), \
                (groups(), expected_groups(open_incidents(srv)))
            assert groups()[:2] == ["new", "acknowledged"]
            p.page.keyboard.press("j")
            p.page.wait_for_selector(f"[data-incident-view='{newest}']")
            # The screenshot waits until the oldest have passed the promise, as late in a busy night.
            p.page.wait_for_selector("#queue .q-row.breached", timeout=30_000)
            p.screenshot("queue-busy")
            # The top bar counts breached incidents wherever they are in the queue; a click opens the oldest.
            p.page.click("#breach-count")
            p.page.wait_for_selector(f"[data-incident-view='{ids[0]}']")
            assert p.errors == [] and p.outside_requests == []
    finally:
        if tracker:
            tracker.close()
        srv.stop()


def test_given_an_unacknowledged_sos_with_a_long_label_when_it_escalates_then_the_escalated_tag_is_wholly_visible(tmp_path, broker, console):
    srv = start_server(tmp_path, broker, env={**FAST_CLOCKS, "SIAGA_ESCALATE_AFTER_S": "1"})
    try:
        with buttons_on(srv, broker) as make:
            btn = make("btn-disaster", site="Kampung Cibogo Atas, Kelurahan Sukawarna, Kecamatan Sukajadi",
                       lat=-6880000, lon=107582000, category="disaster")
            p = console().login(srv.base_url, "operator", USERS["operator"])
            btn.press(presses=4)
            p.page.wait_for_selector("#queue [data-incident]")
            tag = p.page.wait_for_selector("#queue [data-incident] .tag:has-text('escalated')")
            assert tag.evaluate(FULLY_SHOWN)
            for other in ("4× pressed",):
                assert p.page.query_selector(f"#queue [data-incident] .tag:has-text('{other}')").evaluate(FULLY_SHOWN)
            assert p.errors == []
    finally:
        srv.stop()


def test_given_an_sos_nobody_reaches_when_the_promise_passes_then_queue_map_and_incident_view_say_promise_breached(tmp_path, broker, console):
    srv = start_server(tmp_path, broker, env={**FAST_CLOCKS, "SIAGA_RESPONSE_PROMISE_S": "9"})
    try:
        with buttons_on(srv, broker) as make:
            btn = make("btn-late", site="Pasar Kosambi", lat=-6921000, lon=107617000, category="fire")
            p = console().login(srv.base_url, "dispatcher", USERS["dispatcher"])
            btn.press()
            p.page.click("#queue [data-incident]")
            inc_id = int(p.page.get_attribute("#queue [data-incident]", "data-incident"))
            p.page.wait_for_selector(f"[data-incident-view='{inc_id}']")
            # Red first (6 s): the warning, not yet the breach.
            p.page.wait_for_selector("#queue .clock.red", timeout=8000)
            assert p.page.locator("#queue .q-row.breached").count() == 0
            assert p.page.is_hidden("#inc-breach")
            assert p.page.is_hidden("#breach-count")
            p.page.wait_for_selector(f"#map .inc-icon[data-incident='{inc_id}'][data-cue='red']", timeout=3000)
            red_marker = p.page.eval_on_selector(f"#map .inc-icon[data-incident='{inc_id}']",
                                                 "e => { const s = getComputedStyle(e); return [e.dataset.cue, s.borderStyle, s.boxShadow]; }")
            assert red_marker[0] == "red"
            # Past the promise (9 s): a state of its own in all three places, in words as well as looks.
            row = p.page.wait_for_selector("#queue .q-row.breached", timeout=8000)
            assert "promise breached" in row.inner_text()
            assert p.page.get_attribute("#queue .clock", "class").split() == ["clock", "breached"]
            assert p.page.eval_on_selector("#queue .clock", "e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
            p.page.wait_for_selector(f"#map .inc-icon[data-incident='{inc_id}'][data-cue='breached']", timeout=4000)
            breached_marker = p.page.eval_on_selector(f"#map .inc-icon[data-incident='{inc_id}']",
                                                      "e => { const s = getComputedStyle(e); return [e.dataset.cue, s.borderStyle, s.boxShadow]; }")
            assert breached_marker[1] != red_marker[1] and breached_marker[2] != red_marker[2]
            badge = p.page.eval_on_selector(f"#map .inc-icon[data-incident='{inc_id}']", "e => getComputedStyle(e, '::before').content")
            assert badge == '"!"'
            assert p.page.inner_text("#breach-count") == "1 promise breached"
            banner = p.page.wait_for_selector("#inc-breach:not([hidden])")
            assert "Promise breached" in banner.inner_text()
            p.screenshot("breached")
            assert p.errors == [] and p.outside_requests == []
    finally:
        srv.stop()


def test_given_co_located_incidents_and_units_when_the_dispatcher_looks_at_the_map_then_each_marker_shows_its_number_and_callsign_keeps_its_colour_and_is_clickable(server, broker, console, make_button, trackers):
    # Two ambulances waiting at the same post, an SOS at the market, a phone report logged at the same
    # spot, and a second SOS 200 m away: five markers in a few pixels at city zoom.
    trackers("trk-amb-21", "AMB-21", "Ambulans 21", -6917000, 107603000)
    trackers("trk-amb-22", "AMB-22", "Ambulans 22", -6917000, 107603000)
    market = make_button("btn-pasar", site="Pasar Baru", lat=-6917500, lon=107604500, category="fire")
    corner = make_button("btn-otista", site="Jl. Otto Iskandardinata", lat=-6919300, lon=107604500, category="medical")
    p = console().login(server.base_url, "dispatcher", USERS["dispatcher"])
    market.press()
    corner.press()
    r = server.api("POST", "/incidents/reports", json={"category": "fire", "summary": "smoke seen from the market roof",
                                                        "lat_udeg": -6917500, "lon_udeg": 107604500})
    assert r.status_code == 201, r.text
    assert wait_until(lambda: len(open_incidents(server)) == 3)
    incidents = open_incidents(server)
    for inc_id in incidents:
        p.page.wait_for_selector(f"#map .inc-icon[data-incident='{inc_id}']")
    # A phone report is on the map, but worked on its own desk: never in the emergency queue.
    report = next(i for i in incidents.values() if i["type"] == "report")["id"]
    assert p.page.locator(f"#queue [data-incident='{report}']").count() == 0
    # Each marker names its incident, not its priority.
    for inc_id in incidents:
        assert p.page.inner_text(f"#map .inc-icon[data-incident='{inc_id}']").strip() == f"#{inc_id}"
    # Units carry their callsign.
    for unit, callsign in (("AMB-21", "Ambulans 21"), ("AMB-22", "Ambulans 22")):
        assert callsign in p.page.inner_text(f"#map [data-unit='{unit}']")
    # Spread: every marker and unit is the topmost thing at its own centre, so a click reaches it.
    for sel in [f"#map .inc-icon[data-incident='{i}']" for i in incidents] + ["#map [data-unit='AMB-21'] svg", "#map [data-unit='AMB-22'] svg"]:
        assert p.page.eval_on_selector(sel, ON_TOP), f"{sel} is covered"
    for inc_id in incidents:
        p.page.click(f"#map .inc-icon[data-incident='{inc_id}']")
        p.page.wait_for_selector(f"[data-incident-view='{inc_id}']")
    # Ageing turns the ring red; the body keeps its agency colour (fire stays fire, not amber/red).
    fire = next(i for i in incidents.values() if i["origin_device_id"] == "btn-pasar")["id"]
    p.page.wait_for_selector(f"#map .inc-icon[data-incident='{fire}'][data-cue='red']", timeout=10_000)
    fill = p.page.eval_on_selector(f"#map .inc-icon[data-incident='{fire}']", "e => getComputedStyle(e).backgroundColor")
    assert fill == "rgb(255, 106, 61)"  # Damkar's colour
    p.screenshot("map-spread")
    assert p.errors == [] and p.outside_requests == []


def test_given_a_downtown_full_of_incidents_and_units_when_the_dispatcher_looks_at_the_map_then_every_marker_is_on_screen_and_uncovered(server, console, trackers):
    # Twenty-four reports in a few blocks around Alun-Alun and four units parked among them: at
    # city zoom a few pixels apart, far more than one column of the map's height could hold.
    for n, (callsign, name) in enumerate((("AMB-31", "Ambulans 31"), ("AMB-32", "Ambulans 32"),
                                          ("AMB-33", "Ambulans 33"), ("AMB-34", "Ambulans 34"))):
        trackers(f"trk-amb-{31 + n}", callsign, name, -6921000 - 300 * n, 107607000 + 300 * n)
    p = console().login(server.base_url, "dispatcher", USERS["dispatcher"])
    for n in range(24):
        r = server.api("POST", "/incidents/reports", json={
            "category": ("medical", "fire", "police")[n % 3], "summary": f"report {n} near the square",
            "lat_udeg": -6919000 - 600 * (n // 6), "lon_udeg": 107604000 + 600 * (n % 6)})
        assert r.status_code == 201, r.text
    assert wait_until(lambda: len(open_incidents(server)) == 24)
    assert wait_until(lambda: p.page.eval_on_selector_all("#map .inc-icon", "els => els.length") == 24)
    assert wait_until(lambda: p.page.eval_on_selector_all("#map .unit-mk", "els => els.length") == 4)
    bad = p.page.eval_on_selector("#map", MARKERS_SHOWN)
    assert bad == [], bad
    # Each stays where the eye looks for it: close to its true point, not a column across the city.
    far = p.page.eval_on_selector_all("#map .leader line", "els => els.filter(l => Math.hypot(l.x2.baseVal.value, "
                                                             "l.y2.baseVal.value) > 200).length")
    assert far == 0
    # A zoom recomputes the spread: still nothing off screen or covered at the next level.
    p.page.click("#map .leaflet-control-zoom-in")
    p.page.wait_for_timeout(600)
    assert wait_until(lambda: p.page.eval_on_selector("#map", MARKERS_SHOWN) == [], timeout=5), \
        p.page.eval_on_selector("#map", MARKERS_SHOWN)
    assert p.errors == [] and p.outside_requests == []


def test_given_the_queue_page_when_it_opens_then_the_legend_is_one_small_button_that_opens_and_closes(server, console):
    p = console().login(server.base_url, "viewer", USERS["viewer"])
    box = p.page.locator(".map-legend").bounding_box()
    assert box["width"] <= 120 and box["height"] <= 40, box
    assert p.page.is_hidden(".map-legend .legend-body")
    p.page.click(".map-legend .legend-toggle")
    p.page.wait_for_selector(".map-legend .legend-body:has-text('Basarnas 115')")
    assert "promise breached" in p.page.inner_text(".map-legend .legend-body")
    p.page.click(".map-legend .legend-toggle")
    assert p.page.is_hidden(".map-legend .legend-body")
    assert p.errors == []

