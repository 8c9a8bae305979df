"""The scrape job of docs/deploy.md, "Monitoring", on Debian's real Prometheus: it scrapes the
server's /metrics with the metrics token from a credentials file, loads the shipped alert rules,
and answers queries over the series the rules read."""
import shutil
import signal
import subprocess

import httpx
import pytest

from fleet_server.process import free_port
from tests.support.paths import REPO
from tests.web.conftest import start_web_server, wait_for

RULES = REPO / "deploy" / "prometheus" / "siaga-alerts.yml"
TOKEN = "metrics-token-of-the-city-prometheus"

CONFIG = """\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["{rules}"]
scrape_configs:
  - job_name: siaga
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
    authorization: {{credentials_file: {token_file}}}
"""


@pytest.fixture
def prometheus(tmp_path):
    binary = shutil.which("prometheus")
    if not binary:
        pytest.fail("Debian prometheus not installed: `make setup` installs it (apt package prometheus)")
    srv = start_web_server(tmp_path / "srv", env={"SIAGA_HTTP__METRICS_TOKEN": TOKEN})
    token_file = tmp_path / "siaga-metrics.token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    config = tmp_path / "prometheus.yml"
    config.write_text(CONFIG.format(rules=RULES, port=srv.port, token_file=token_file))
    port = free_port()
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        yield srv, f"http://127.0.0.1:{port}", tmp_path / "prometheus.log"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        log.close()
        srv.stop()


def _query(url: str, expr: str) -> list:
    try:
        r = httpx.get(url + "/api/v1/query", params={"query": expr}, timeout=5)
    except httpx.HTTPError:
        return []
    return r.json()["data"]["result"] if r.status_code == 200 else []


def test_given_the_documented_scrape_job_then_prometheus_reads_the_server_with_its_token(prometheus):
    srv, url, log = prometheus
    up = wait_for(lambda: _query(url, 'up{job="siaga"} == 1'), timeout=60, every=0.5)
    assert up, log.read_text()[-2000:]
    assert float(_query(url, "siaga_response_promise_seconds")[0]["value"][1]) == 300
    assert _query(url, "siaga_incidents_past_promise")[0]["value"][1] == "0"
    groups = httpx.get(url + "/api/v1/rules", timeout=5).json()["data"]["groups"]
    loaded = {r["name"] for g in groups for r in g["rules"]}
    assert {"SiagaResponsePromiseBreached", "SiagaIngestLag", "SiagaBrokerLinkDown",
            "SiagaDevicesOfflineSpike"} <= loaded
    assert all(r["health"] != "err" for g in groups for r in g["rules"]), groups
    # Without the token the same target is refused: the token is what let Prometheus in.
    assert httpx.get(srv.base_url + "/metrics", timeout=5).status_code == 401
