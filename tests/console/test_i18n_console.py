"""Bahasa Indonesia in headless Chromium against the real server and broker: a center whose language
is Indonesian shows its login page in Indonesian; a dispatcher switches the console to English
(stored with the user, kept across a reload) and back; then every view and dialog is walked —
queue with escalated and promise-breached SOS, incident detail with run card, reclassify form,
recommendations and timeline, the map with its legend, the closing and dispatch dialogs, the
call-taking form, the keyboard help, units, devices, statistics, the non-emergency desk, the
monthly report, the station view and the accountability report — and no visible text (nor title,
placeholder or label) is an English text the catalogue translates."""
from __future__ import annotations

import re

import httpx
import pytest

from tests.console.conftest import FAST_CLOCKS, USERS, start_server
from tests.console.i18n_keys import catalogue, console_refusals

# Every visible text node, and the texts of visible elements' title/placeholder/aria-label.
VISIBLE_TEXTS = """() => {
  const out = [];
  const shown = (el) => el && el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true });
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const s = n.textContent.trim();
    if (s && shown(n.parentElement)) out.push(s);
  }
  for (const el of document.querySelectorAll("[title], [placeholder], [aria-label]")) {
    if (!shown(el)) continue;
    for (const a of ["title", "placeholder", "aria-label"]) if (el.getAttribute(a)) out.push(el.getAttribute(a));
  }
  out.push(document.title);
  return out;
}"""


def _english_patterns() -> list[tuple[str, re.Pattern]]:
    """One pattern per English key whose Indonesian differs: the key as a whole phrase, its
    placeholders matching anything."""
    out = []
    for key, text in catalogue("id").items():
        if key == text:
            continue
        body = re.sub(r"\\\{\w+\\\}", ".+?", re.escape(key))
        # A code such as a run card's id (dinkes-medical) is not an English word in the text.
        out.append((key, re.compile(r"(?<![\w-])" + body + r"(?![\w-])")))
    return out


ENGLISH = _english_patterns()


def english_left(page) -> list[str]:
    found = []
    for s in page.page.evaluate(VISIBLE_TEXTS):
        for key, pattern in ENGLISH:
            if pattern.search(s):
                found.append(f"{s!r} (English {key!r})")
                break
    return found


@pytest.fixture
def id_server(tmp_path, broker):
    # An Indonesian center, with clocks fast enough to see escalation and a breached promise.
    srv = start_server(tmp_path, broker, env={**FAST_CLOCKS, "SIAGA_CONSOLE_LANGUAGE": "id",
                                               "SIAGA_INCIDENTS__ESCALATE_AFTER_S": "1",
                                               "SIAGA_INCIDENTS__ESCALATE_HEAD_AFTER_S": "2",
                                               "SIAGA_INCIDENTS__SUPERVISE_EVERY_S": "0.5",
                                               "SIAGA_INCIDENTS__RESPONSE_PROMISE_S": "8"})
    try:
        yield srv
    finally:
        srv.stop()


def _view(p, seen: dict, name: str) -> None:
    p.page.wait_for_timeout(150)   # a frame for the view to draw
    left = english_left(p)
    seen[name] = left


def test_given_an_indonesian_center_when_a_dispatcher_switches_language_and_walks_every_view_then_no_english_text_remains(
        id_server, broker, console):
    from tests.console.conftest import Tracker, buttons_on

    server = id_server
    p = console()
    p.page.goto(server.base_url + "/")
    p.page.wait_for_selector("html[lang=id]", state="attached")
    assert p.page.inner_text("#login-submit") == "Masuk"
    assert english_left(p) == []

    with buttons_on(server, broker) as make_button:
        tracker = Tracker(server, broker, "trk-amb-7", "amb-7", "AMB-7", -6921000, 107608500)
        try:
            fire = make_button("tombol-1", site="Jalan Braga", lat=-6917000, lon=107609000, category="fire")
            medis = make_button("tombol-2", site="Taman Lansia", lat=-6904500, lon=107623000, category="medical")
            p.login(server.base_url, "dispatcher", USERS["dispatcher"])
            p.page.wait_for_selector("html[lang=id]", state="attached")   # the center's language

            # The user's own choice: English, stored with the user and kept across a reload.
            with p.page.expect_navigation():
                p.page.select_option("#lang-switch", "en")
            p.page.wait_for_selector("#feed-state[data-state=live]")
            assert p.page.evaluate("document.documentElement.lang") == "en"
            assert p.page.inner_text("#logout") == "Log out"
            users = {u["username"]: u for u in server.api("GET", "/users").json()}
            assert users["dispatcher"]["language"] == "en" and users["operator"]["language"] is None
            p.page.reload()
            p.page.wait_for_selector("#feed-state[data-state=live]")
            assert p.page.inner_text("#logout") == "Log out"
            with p.page.expect_navigation():
                p.page.select_option("#lang-switch", "id")
            p.page.wait_for_selector("#feed-state[data-state=live]")
            assert p.page.evaluate("document.documentElement.lang") == "id"
            users = {u["username"]: u for u in server.api("GET", "/users").json()}
            assert users["dispatcher"]["language"] == "id"

            report = server.api("POST", "/incidents/reports", json={"category": "unknown",
                                                                     "summary": "Pohon tumbang di Jalan Dago",
                                                                     "caller_number": "081234567890"})
            assert report.status_code in (200, 201), report.text
            fire.press()
            medis.press()
            p.page.wait_for_selector("#queue [data-incident] >> nth=1")
            seen: dict[str, list[str]] = {}
            # The queue, as incidents escalate and pass the (shortened) promise.
            p.page.wait_for_selector("#queue .tag[data-escalation='2']", timeout=15000)
            p.page.wait_for_selector("#queue .q-row.breached", timeout=15000)
            _view(p, seen, "queue")
            assert "Belum diterima" in p.page.text_content("#queue")
            # The medical incident: run card, reclassify form, recommendations, breach banner, timeline.
            p.page.click("#queue [data-incident] .what:has-text('medis')")
            p.page.wait_for_selector("#sop-card")
            p.page.wait_for_selector("#inc-breach:not([hidden])")
            _view(p, seen, "incident")
            p.page.check("#sop-card input[data-sop-step] >> nth=0")
            p.page.wait_for_selector("#sop-card li.sop-step.ticked")
            p.page.fill("#note-text", "Pelapor masih di lokasi")
            p.page.keyboard.press("Enter")
            p.page.wait_for_selector(".timeline li:has-text('Pelapor masih di lokasi')")
            p.page.keyboard.press("Escape")
            p.page.keyboard.press("a")
            p.page.wait_for_selector("#inc-state:has-text('diterima')")
            p.page.wait_for_selector("#inc-recos .reco")
            _view(p, seen, "incident acknowledged")
            p.page.keyboard.press("d")                          # the dispatch dialog
            p.page.wait_for_selector("#confirm-dialog[open]")
            _view(p, seen, "dispatch dialog")
            p.page.click("#confirm-cancel")
            p.page.wait_for_selector("#confirm-dialog:not([open])", state="attached")
            p.page.keyboard.press("f")                          # the closing dialog
            p.page.wait_for_selector("#confirm-dialog[open]")
            _view(p, seen, "closing dialog")
            p.page.click("#confirm-cancel")
            p.page.wait_for_selector("#confirm-dialog:not([open])", state="attached")
            p.page.click(".legend-toggle")                      # the map's legend and layers
            p.page.hover(".leaflet-control-layers")
            p.page.hover("#map .inc-icon >> nth=0")
            _view(p, seen, "map")
            p.page.keyboard.press("t")                          # the call-taking form, with a caller's history
            p.page.wait_for_selector("#ct-number")
            p.page.fill("#ct-number", "081234567890")
            p.page.wait_for_timeout(800)
            _view(p, seen, "call-taking form")
            p.page.keyboard.press("Escape")
            p.page.keyboard.press("Escape")
            p.page.wait_for_selector("body:not([data-calltake='open'])", state="attached")
            p.page.keyboard.press("?")
            p.page.wait_for_selector("#help-dialog[open]")
            _view(p, seen, "keyboard help")
            p.page.keyboard.press("Escape")
            for key, page, ready in (("2", "units", "#units-board [data-unit]"), ("3", "devices", "#devices-table"),
                                     ("4", "stats", "#stats-table"), ("5", "desk", "#desk-list [data-report]"),
                                     ("6", "monthly", "#monthly-table"), ("7", "station", "#station-list"),
                                     ("8", "accountability", "#acc-stations")):
                p.page.keyboard.press(key)
                p.page.wait_for_selector(ready)
                _view(p, seen, page)
            # A real refusal, said by its code: the desk hands off with a reference the server
            # refuses (bad_reference); the toast says the server's rule in Indonesian.
            p.page.eval_on_selector("#desk-list", "el => { el.dataset.drawn = 'before'; }")
            p.page.keyboard.press("5")
            p.page.wait_for_selector("#desk-list:not([data-drawn])")   # the desk drawn afresh
            form = p.page.locator("#desk-list form[data-hand-off] >> nth=0")
            form.locator("input[name=reference]").fill("rujukan dengan spasi!")
            form.locator("button").click()
            p.page.wait_for_selector("#toast.show.error")
            cat = catalogue("id")
            assert p.page.inner_text("#toast") == cat["Refused: {why}"].format(
                why=cat[console_refusals()["bad_reference"]])
            _view(p, seen, "refusal")
            # The timeline names what the server records by id: the ticked run card step by its
            # text, a reclassification's station and a forward's station by their names.
            inc_id = int(p.page.get_attribute("#queue [data-incident]:has(.what:has-text('medis'))", "data-incident"))
            r = server.api("POST", f"/incidents/{inc_id}/reclassify", json={
                "category": "police", "agency": None, "priority": 2, "reason": "Pelapor melihat perkelahian"})
            assert r.status_code == 200, r.text
            r = server.api("POST", f"/incidents/{inc_id}/forward", json={})
            assert r.status_code == 201, r.text
            audit = server.api("GET", f"/incidents/{inc_id}").json()["audit"]
            [tick] = [a for a in audit if a["action"] == "sop_step_ticked"]
            [moved] = [a for a in audit if a["action"] == "reclassified"]
            [sent] = [a for a in audit if a["action"] == "forwarded"]
            [card] = [c for c in server.api("GET", "/center/run-cards").json() if c["id"] == tick["detail"]]
            [step] = [s for s in card["steps"] if s["id"] == tick["to"]]
            station_id = moved["detail"].rsplit("(station ", 1)[1].rstrip(")")
            names = {f["properties"]["id"]: f["properties"]["name"]
                     for f in httpx.get(server.base_url + "/console/api/areas").json()["features"]}
            p.page.keyboard.press("1")
            p.page.click(f"#queue [data-incident='{inc_id}']")
            p.page.wait_for_selector(".timeline li:has-text('diteruskan oleh pusat')")
            line = p.page.inner_text(".timeline")
            assert cat[step["text"]] in line and cat["Run card: {title}"].format(title=cat[card["title"]]) in line
            assert f"Pelapor melihat perkelahian (pos {names[station_id]})" in line
            assert names[sent["to"]] in line
            raw = [code for code in (card["id"], f"“{step['id']}”", station_id, sent["to"], "(station ", moved["to"])
                   if code in line]
            assert raw == [], f"raw ids in the timeline: {raw}\n{line}"
            _view(p, seen, "timeline")
            p.page.click("#logout")
            p.page.wait_for_selector("#page-login:not([hidden])")
            _view(p, seen, "login after logout")
        finally:
            tracker.close()
    left = {view: found for view, found in seen.items() if found}
    assert left == {}, "\n".join(f"{view}: {found}" for view, found in left.items())
    assert len(seen) == 18
    assert p.errors == [] and p.outside_requests == []
