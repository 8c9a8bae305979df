"""`siaga serve --certfile --keyfile`: the fleet server answers HTTPS itself (certificate made by
`cryptography` in the test, trusted through its CA), sends HSTS there, and refuses half a
certificate configuration with a reason."""
import os
import subprocess
import sys
import time

import httpx
import pytest

from fleet_server.process import REPO_ROOT, free_port
from tests.support.server import ADMIN_PASS, ADMIN_USER, FleetServer
from tests.web.conftest import NO_BROKER, make_certs


def _serve(srv: FleetServer, *args: str) -> subprocess.Popen:
    env = dict(os.environ, **srv.env)
    return subprocess.Popen([sys.executable, "-c", "from fleet_server.cli import app; app()", "serve",
                             "--port", str(srv.port), *args], cwd=REPO_ROOT, env=env,
                            stdout=open(srv.log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture
def https_server(tmp_path):
    certs = make_certs(tmp_path / "tls")
    srv = FleetServer(tmp_path / "srv", NO_BROKER, env={"SIAGA_RUN_INGEST": "false"})
    proc = _serve(srv, "--certfile", str(certs.cert), "--keyfile", str(certs.key))
    url = f"https://localhost:{srv.port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(url + "/healthz", verify=certs.client_context(), timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail(f"HTTPS server not up:\n{srv.output()[-2000:]}")
        yield url, certs, srv
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            proc.wait(10)


def test_given_a_certificate_when_served_then_the_console_and_api_answer_over_verified_tls(https_server):
    url, certs, _ = https_server
    ctx = certs.client_context()
    r = httpx.post(url + "/api/v1/auth/token", data={"username": ADMIN_USER, "password": ADMIN_PASS},
                   verify=ctx, timeout=10)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    r = httpx.get(url + "/api/v1/incidents", headers={"Authorization": f"Bearer {token}"}, verify=ctx, timeout=10)
    assert r.status_code == 200 and r.json() == []
    page = httpx.get(url + "/console/", verify=ctx, timeout=10)
    assert page.status_code == 200 and "<script" in page.text
    assert page.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_given_https_when_a_client_does_not_trust_the_ca_or_speaks_plain_http_then_no_answer(https_server):
    url, _, _ = https_server
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(url + "/healthz", timeout=5)
    with pytest.raises(httpx.HTTPError):
        r = httpx.get(url.replace("https", "http") + "/healthz", timeout=5)
        r.raise_for_status()


def test_given_a_certificate_without_its_key_then_serve_refuses_and_says_why(tmp_path):
    certs = make_certs(tmp_path / "tls")
    srv = FleetServer(tmp_path / "srv", NO_BROKER, env={"SIAGA_RUN_INGEST": "false"})
    srv.port = free_port()
    out = subprocess.run([sys.executable, "-c", "from fleet_server.cli import app; app()", "serve",
                          "--port", str(srv.port), "--certfile", str(certs.cert)], cwd=REPO_ROOT,
                         env=dict(os.environ, **srv.env), capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "needs both a certificate and its key" in out.stderr
