"""A station user's top bar in headless Chromium at the command center's 1366x768: it links only the
pages whose work the server lets a station user do (app.js PAGE_WORK, held here to the roles the
server's OpenAPI document declares), a hidden page's work is refused to the station user by the
API itself, a key to a hidden page lands back on the station view, and the bar is one line high —
in English and in Bahasa Indonesia."""
from __future__ import annotations

import re

import httpx

from fleet_server.api.security import role_at_least
from tests.console.conftest import USERS, start_server
from tests.console.i18n_keys import STATIC

STATIC_JS = STATIC / "js"

POLRES = "polrestabes-bandung"
# Each visible item of the top bar: its box, and whether its text wraps (taller than one line).
BAR_BOXES = """() => {
  const bar = document.getElementById("topbar").getBoundingClientRect();
  const items = [...document.querySelectorAll("#topbar > *, #topbar nav > a")]
    .filter((el) => el.checkVisibility())
    .map((el) => { const r = el.getBoundingClientRect(), lh = parseFloat(getComputedStyle(el).lineHeight) || 20;
      return { id: el.id || el.dataset.page || el.tagName, top: r.top, bottom: r.bottom, left: r.left, right: r.right,
               lines: Math.round(el.getClientRects().length), tall: r.height > lh * 1.6 + 12 }; });
  const el = document.getElementById("topbar");
  return { bar: { top: bar.top, bottom: bar.bottom, width: bar.width, overflow: el.scrollWidth > el.clientWidth + 1 }, items };
}"""


def assert_one_line(p, name: str) -> None:
    """The top bar at 1366 px: nothing overflows it, no item wraps or leaves it, all on one line."""
    boxes = p.page.evaluate(BAR_BOXES)
    bar, items = boxes["bar"], boxes["items"]
    assert bar["width"] == 1366 and not bar["overflow"], (name, boxes)
    assert bar["bottom"] - bar["top"] <= 43, (name, bar)
    wrapped = [i["id"] for i in items if i["tall"] or i["lines"] > 1]
    outside = [i["id"] for i in items if i["top"] < bar["top"] or i["bottom"] > bar["bottom"] or i["right"] > 1366]
    assert wrapped == [] and outside == [], (name, wrapped, outside, items)
    # One line: every item's vertical middle within a few pixels of the others', and side by side.
    middles = [(i["top"] + i["bottom"]) / 2 for i in items]
    assert max(middles) - min(middles) <= 4, (name, items)
    row = sorted((i for i in items if i["id"] not in ("NAV",)), key=lambda i: i["left"])
    overlaps = [(a["id"], b["id"]) for a, b in zip(row, row[1:]) if b["left"] < a["right"] - 0.5]
    assert overlaps == [], f"{name}: {overlaps} in " + " ".join(f"{i['id']}:{i['left']:.0f}-{i['right']:.0f}" for i in row)


def page_work() -> dict[str, tuple[str, str]]:
    """app.js PAGE_WORK: {page: (role, "METHOD /path")}."""
    code = (STATIC_JS / "app.js").read_text(encoding="utf-8")
    table = code.split("export const PAGE_WORK = {", 1)[1].split("};", 1)[0]
    return {m.group(1): (m.group(2), m.group(3)) for m in re.finditer(r'(\w+): \["(\w+)", "([A-Z]+ [^"]+)"\]', table)}


def test_given_a_station_user_at_1366_px_then_the_bar_links_what_the_server_lets_it_do_on_one_line(tmp_path, broker, console):
    srv = start_server(tmp_path, broker)
    try:
        for name, lang in (("polres-en", "en"), ("polres-id", "id")):
            r = srv.api("POST", "/users", json={"username": name, "password": f"{name}-pw-1", "role": "station",
                                                "station_id": POLRES, "language": lang})
            assert r.status_code == 201, r.text
        spec = httpx.get(srv.base_url + "/openapi.json").json()["paths"]
        work = page_work()
        nav = set(re.findall(r'data-page="(\w+)"', (STATIC_JS.parent / "index.html").read_text(encoding="utf-8")))
        assert nav - {"accountability"} <= set(work) and "accountability" in work
        for page, (role, endpoint) in work.items():
            method, path = endpoint.split(" ", 1)
            declared = spec[path][method.lower()]["x-required-role"]
            assert declared == role, f"{page}: app.js says {role}, the server requires {declared} for {endpoint}"
        usable = {page for page, (role, _) in work.items() if role_at_least("station", role)}
        assert usable == {"stats", "monthly", "station"}

        # The API refuses the station user each hidden page's work.
        token = srv.login("polres-en", "polres-en-pw-1")
        for page, (_, endpoint) in work.items():
            if page in usable:
                continue
            method, path = endpoint.split(" ", 1)
            url = re.sub(r"\{\w+\}", "1", path)
            r = httpx.request(method, srv.base_url + url, headers={"Authorization": f"Bearer {token}"}, json={})
            assert (r.status_code, r.json()["code"]) == (403, "insufficient_role"), (page, r.text)

        for name in ("polres-en", "polres-id"):
            p = console().login(srv.base_url, name, f"{name}-pw-1")
            p.page.wait_for_selector("body[data-page=station]")
            shown = set(p.page.eval_on_selector_all("#topbar nav a", "els => els.filter((a) => a.checkVisibility()).map((a) => a.dataset.page)"))
            assert shown == usable & nav, name
            p.page.keyboard.press("1")                                  # the queue is not theirs
            p.page.wait_for_timeout(200)
            assert p.page.evaluate("document.body.dataset.page") == "station"
            p.page.keyboard.press("4")
            p.page.wait_for_selector("body[data-page=stats]")
            p.page.keyboard.press("7")
            p.page.wait_for_selector("body[data-page=station]")
            assert_one_line(p, name)
            assert p.errors == [] and p.outside_requests == []
    finally:
        srv.stop()


def test_given_a_dispatcher_with_every_page_at_1366_px_then_the_bar_stays_one_line_in_both_languages(tmp_path, broker, console):
    srv = start_server(tmp_path, broker, env={"SIAGA_CONSOLE_LANGUAGE": "id"})
    try:
        for lang in ("id", "en"):
            r = srv.api("PATCH", "/users/dispatcher", json={"language": lang})
            assert r.status_code == 200, r.text
            p = console().login(srv.base_url, "dispatcher", USERS["dispatcher"])
            p.page.wait_for_selector(f"html[lang={lang}]", state="attached")
            p.page.wait_for_selector("#clock:not(:empty)")
            shown = p.page.eval_on_selector_all("#topbar nav a", "els => els.filter((a) => a.checkVisibility()).length")
            assert shown == 7
            assert_one_line(p, f"dispatcher ({lang})")
            p.page.click("#logout")
            p.page.wait_for_selector("#page-login:not([hidden])")
    finally:
        srv.stop()
