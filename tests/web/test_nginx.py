"""deploy/nginx/siaga.conf as shipped, run by Debian's real nginx on loopback (as the test's own
user: a generated main config with -p prefix, temp paths in the test's directory, daemon off),
in front of the real fleet server: TLS terminated by nginx with a certificate the city's CA signed,
plain HTTP redirected, proxy headers believed (HSTS on the proxied answers, the client's address
seen by the login throttle), and the live feed's WebSocket upgraded end to end."""
import getpass
import json
import os
import shutil
import signal
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from fleet_server.process import free_port
from tests.support.paths import REPO
from tests.web.conftest import PASSWORDS, make_certs, start_web_server, wait_for

SITE = REPO / "deploy" / "nginx" / "siaga.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

MAIN = """\
daemon off;
master_process on;
worker_processes 1;
user {user};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 128; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {prefix}/siaga.conf;
}}
"""


def site_config(prefix: Path, certs, upstream: int, http_port: int, https_port: int) -> str:
    """The shipped site file with only its deployment-specific values replaced; each must be
    found, so the test breaks if the shipped file changes shape."""
    text = SITE.read_text()
    for old, new in (("server 127.0.0.1:8112;", f"server 127.0.0.1:{upstream};"),
                     ("listen 80;", f"listen 127.0.0.1:{http_port};"),
                     ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
                     ("/etc/siaga/tls/server.crt", str(certs.cert)), ("/etc/siaga/tls/server.key", str(certs.key))):
        assert text.count(old) >= 1, f"{old!r} not in {SITE}"
        text = text.replace(old, new)
    return text


class Nginx:
    def __init__(self, prefix: Path, site: str):
        self.prefix = prefix
        (prefix / "tmp").mkdir(parents=True, exist_ok=True)
        (prefix / "siaga.conf").write_text(site)
        (prefix / "nginx.conf").write_text(MAIN.format(prefix=prefix, user=getpass.getuser()))
        self.cmd = [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")]
        self.proc = None

    def check(self) -> subprocess.CompletedProcess:
        return subprocess.run(self.cmd + ["-t"], capture_output=True, text=True, timeout=30)

    def start(self, port: int) -> "Nginx":
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        if not wait_for(lambda: self.proc.poll() is None and _listening(port), timeout=15):
            raise RuntimeError(f"nginx did not start:\n{self.log()}")
        return self

    def log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text()[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def _listening(port: int) -> bool:
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.fixture
def proxied(tmp_path):
    if not Path(NGINX).exists():
        pytest.fail("Debian nginx not installed: `make setup` installs it (apt package nginx)")
    srv = start_web_server(tmp_path / "srv")
    certs = make_certs(tmp_path / "tls")
    http_port, https_port = free_port(), free_port()
    nginx = Nginx(tmp_path / "nginx", site_config(tmp_path / "nginx", certs, srv.port, http_port, https_port))
    try:
        checked = nginx.check()
        assert checked.returncode == 0, checked.stderr
        nginx.start(https_port)
        yield srv, certs, f"https://localhost:{https_port}", f"http://127.0.0.1:{http_port}"
    finally:
        nginx.stop()
        srv.stop()


def test_given_nginx_in_front_then_the_console_and_api_answer_over_tls_with_hsts(proxied):
    srv, certs, url, plain = proxied
    ctx = certs.client_context()
    page = httpx.get(url + "/console/", verify=ctx, timeout=10)
    assert page.status_code == 200 and "app.js" in page.text
    # The server believed the proxy's X-Forwarded-Proto: this answer went over HTTPS.
    assert page.headers["strict-transport-security"].startswith("max-age=31536000")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["server"] == "nginx", "server_tokens off: no version"
    r = httpx.get(url + "/api/v1/incidents", headers=srv.auth(), verify=ctx, timeout=10)
    assert r.status_code == 200
    redirect = httpx.get(plain + "/console/?x=1", timeout=10)
    assert redirect.status_code == 301 and redirect.headers["location"].startswith("https://")
    assert redirect.headers["location"].endswith("/console/?x=1")
    assert httpx.get(url + "/metrics", verify=ctx, timeout=10).status_code == 200, "loopback may scrape"
    assert "strict-transport-security" not in httpx.get(srv.base_url + "/console/", timeout=10).headers


def test_given_nginx_in_front_when_a_console_opens_the_feed_then_events_arrive_through_the_upgrade(proxied):
    srv, certs, url, _ = proxied
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    feed = url.replace("https://", "wss://") + "/api/v1/feed?token=" + srv.tokens["viewer"]
    with connect(feed, ssl=ctx, open_timeout=10) as ws:
        hello = json.loads(ws.recv(timeout=10))
        assert hello == {"type": "hello", "user": "viewer", "role": "viewer"}
        r = httpx.post(url + "/api/v1/incidents/reports", headers=srv.auth(srv.tokens["operator"]), verify=certs.client_context(),
                       json={"category": "medical", "summary": "pingsan di halte", "reporter": "+6281234567890"},
                       timeout=10)
        assert r.status_code == 201, r.text
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ev = json.loads(ws.recv(timeout=10))
            if ev.get("type") == "incident" and ev["incident"]["id"] == r.json()["id"]:
                break
        else:
            pytest.fail("the incident event did not come through the proxy")
        assert ev["incident"]["reporter"] == "+62812*****890", "the feed shows callers' numbers masked"
    access = (Path(certs.ca).parent.parent / "nginx" / "access.log").read_text()
    assert '"GET /api/v1/feed?token=' in access and " 101 " in access, "nginx upgraded the connection"


def test_given_nginx_in_front_when_logins_fail_then_the_throttle_counts_the_real_client_address(proxied):
    srv, certs, url, _ = proxied
    ctx = certs.client_context()
    for i in range(3):
        r = httpx.post(url + "/api/v1/auth/token", data={"username": f"nobody{i}", "password": "x" * 10},
                       verify=ctx, timeout=10, headers={"X-Forwarded-For": "203.0.113.7"})
        assert r.status_code == 401
    logged = [json.loads(line) for line in srv.output().splitlines() if line.startswith("{") and "login refused" in line]
    # nginx passes the peer it saw, not what the client claimed: a forged header evades nothing.
    assert [rec["client"] for rec in logged][-3:] == ["127.0.0.1"] * 3, logged[-3:]


def test_given_nginx_in_front_when_an_operator_logs_in_with_chromium_then_the_console_goes_live_over_wss(proxied, chromium):
    from tests.support.browser import VIEWPORT, WAIT_MS, ConsolePage
    srv, certs, url, _ = proxied
    # The test CA is not in Chromium's store; the certificate itself is verified by the tests above.
    ctx = chromium.browser.new_context(viewport=VIEWPORT, ignore_https_errors=True)
    ctx.set_default_timeout(WAIT_MS)
    page = ConsolePage(ctx.new_page())
    try:
        page.page.add_init_script("""window.__csp = []; document.addEventListener('securitypolicyviolation',
            (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));""")
        page.login(url, "operator", PASSWORDS["operator"])   # waits for the feed to be live (wss, CSP 'self')
        assert page.page.evaluate("location.protocol") == "https:"
        page.page.keyboard.press("5")                         # the non-emergency desk
        page.page.locator("#page-desk:not([hidden])").wait_for()
        r = httpx.post(url + "/api/v1/incidents/reports", headers=srv.auth(srv.tokens["operator"]),
                       verify=certs.client_context(),
                       json={"category": "fire", "summary": "lampu jalan padam"}, timeout=10)
        assert r.status_code == 201
        # The report reaches the open page over the feed (wss through nginx), without a reload.
        page.page.locator(f"[data-report='{r.json()['id']}']").wait_for()
        assert page.page.evaluate("window.__csp") == [] and page.errors == []
    finally:
        page.close()
