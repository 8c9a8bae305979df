"""The security-header baseline on every answer of the console and the API (success, refusal,
unknown route alike), and a console that works under its Content-Security-Policy: no inline
script, handler or style in its files, and no violation reported by a real Chromium while an
operator works an incident."""
import re

import httpx

from fleet_server.console.router import STATIC
from tests.console.conftest import USERS, make_button, server  # noqa: F401  (fixtures)
from tests.web.conftest import wait_for

PAGES = [("/console/", None), ("/console/static/js/app.js", None), ("/console/static/console.css", None),
         ("/console/api/config", None), ("/healthz", None), ("/openapi.json", None),
         ("/api/v1/incidents", "viewer"), ("/api/v1/incidents", None), ("/api/v1/no-such-route", None),
         ("/api/v1/users", "viewer"), ("/metrics", None)]


def csp_directives(value: str) -> dict:
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in value.split(";")) if d}


def test_given_console_and_api_pages_then_each_answer_carries_the_security_headers(web):
    statuses = set()
    for path, role in PAGES:
        headers = {"Authorization": f"Bearer {web.tokens[role]}"} if role else {}
        r = httpx.get(web.base_url + path, headers=headers, timeout=10)
        statuses.add(r.status_code)
        csp = csp_directives(r.headers["content-security-policy"])
        assert csp["frame-ancestors"] == ["'none'"], path
        assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"], path
        assert csp["object-src"] == ["'none'"] and csp["default-src"] == ["'self'"], path
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["referrer-policy"] == "no-referrer", path
        assert r.headers["x-frame-options"] == "DENY", path
        # Plain HTTP (loopback, no proxy saying otherwise): no HSTS, which only means something over TLS.
        assert "strict-transport-security" not in r.headers, path
    assert {200, 401, 403, 404} <= statuses, "successes and refusals alike were checked"


def test_given_a_configured_tile_server_then_the_policy_allows_its_images_and_nothing_else_from_it(tmp_path):
    from fleet_server.api.edge import content_security_policy
    csp = csp_directives(content_security_policy("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png"))
    assert csp["img-src"] == ["'self'", "data:", "blob:", "https://*.tile.openstreetmap.org"]
    assert csp["script-src"] == ["'self'"] and csp["connect-src"] == ["'self'"]
    assert csp_directives(content_security_policy(""))["img-src"] == ["'self'", "data:", "blob:"]


def test_given_the_console_files_then_no_inline_script_handler_or_style_is_left():
    html = (STATIC / "index.html").read_text()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S | re.I)
    assert scripts, "the page loads its scripts"
    assert all("src=" in attrs and not body.strip() for attrs, body in scripts), "inline <script> in index.html"
    files = [STATIC / "index.html"] + sorted((STATIC / "js").glob("*.js"))
    for f in files:
        text = f.read_text()
        assert not re.search(r"""\son[a-z]+\s*=\s*["'{]""", text), f"inline event handler in {f.name}"
        assert not re.search(r"""[\s`"']style\s*=\s*["'$]""", text), f"inline style attribute in {f.name}"
        assert "<style" not in text.lower(), f"inline <style> in {f.name}"
        assert "eval(" not in text and "new Function" not in text, f"eval in {f.name}"


VIOLATIONS = """() => { window.__csp = []; document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sourceFile || '') + ':' + e.lineNumber)); }"""


def test_given_the_console_under_its_policy_when_an_operator_opens_an_incident_then_nothing_is_refused(
        server, make_button, console):
    web = server
    page = console()
    page.page.add_init_script(f"({VIOLATIONS})()")
    page.login(web.base_url, "operator", USERS["operator"])
    make_button("btn-pasar-kosambi", "Pasar Kosambi", category="fire").press()   # a real alarm over MQTT
    item = page.page.locator("#queue [data-incident]").first
    item.wait_for()
    # The agency colour travels as data-style and reaches the element through the CSSOM.
    assert wait_for(lambda: item.evaluate("el => el.style.borderLeftColor") != "", timeout=5)
    item.click()
    page.page.wait_for_selector("#incident-pane .agency")
    assert page.page.locator("#incident-pane .agency").first.evaluate("el => el.style.backgroundColor") != ""
    legend = page.page.locator(".map-legend [data-style]").first
    assert legend.evaluate("el => el.style.cssText") != "", "the map legend's colours are applied"
    for view, filled in (("units", "#units-board *"), ("devices", "#devices-list *"), ("stats", "#stats-view *"),
                         ("queue", "#queue li")):
        page.page.goto(f"{web.base_url}/console/#/{view}")
        page.page.locator(filled).first.wait_for()
    assert page.page.evaluate("window.__csp") == []
    assert page.errors == []
