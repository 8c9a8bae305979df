"""Several workers, active-active, on one PostgreSQL and one Mosquitto (docs/deploy.md, "Several
workers"): the device traffic is shared through MQTT v5 shared subscriptions, the singleton duties
run under leases, and a worker killed with SIGKILL in the middle of an alarm burst loses nothing:
every alarm stored once, acked, the expected incidents, every lease taken over within 5 s.
The bigger storm (>= 1,000 alarms, real firmware among the buttons) runs in `make bench`
(simulators/bench/workers.py)."""
from __future__ import annotations

import ssl
import subprocess
import time

import httpx
import pytest
from sqlalchemy import create_engine, text

from fleet_server.cluster.leases import DUTIES
from fleet_server.settings import REPO_ROOT as REPO
from simulators.workers import AlarmSwarm, Workers, leases, register_buttons, wait_takeover

pytestmark = pytest.mark.postgres

BUTTONS = 30
PRESSES = 4          # per button, one every PRESS_GAP_S: they fold into one incident per button
PRESS_GAP_S = 1.0


@pytest.fixture
def workers(tmp_path, broker, postgres):
    url = postgres.new_database("workers")
    w = Workers(tmp_path / "workers", broker, url, 2)
    try:
        yield w.start(), url
    finally:
        w.stop()


def _query(url: str, sql: str):
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return c.execute(text(sql)).all()
    finally:
        engine.dispose()


def _metric(srv, name: str, **labels) -> float:
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
    for line in httpx.get(srv.base_url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return 0.0


def _p(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def test_given_two_workers_when_one_is_killed_mid_burst_then_each_alarm_is_stored_once_acked_and_leases_move(
        workers, broker):
    w, url = workers
    w1, w2 = w[0], w[1]
    # Both workers are up; the first one started holds every duty.
    assert {name: holder for name, (holder, *_rest) in leases(url).items()} == {d: "w1" for d in DUTIES}
    assert w2.api("GET", "/devices").status_code == 200
    ids = [f"btn-w{k:02d}" for k in range(BUTTONS)]
    register_buttons(w2, ids)
    swarm = AlarmSwarm(broker, "bench-swarm", "swarm-secret", ids, resend_s=1.0)
    try:
        kill_at = None
        for press in range(1, PRESSES + 1):
            for dev in ids:
                swarm.press(dev, press)
                if press == 2 and dev == ids[BUTTONS // 2]:
                    kill_at = time.time()
                    w1.kill()                     # SIGKILL, with alarms in flight on both workers
            if press == 1:   # both workers take their share of the device traffic
                assert swarm.wait_all_acked(10)
                shares = [_metric(s, "siaga_ingest_messages_total", type="alarm") for s in (w1, w2)]
                assert sum(shares) >= BUTTONS and min(shares) > 0, shares
            time.sleep(PRESS_GAP_S)
        takeover = wait_takeover(url, "w1", timeout=10)
        assert swarm.wait_all_acked(20), f"{swarm.pending()} alarms never acked"
    finally:
        swarm.close()

    takeover_s = {n: round(acq - kill_at, 2) for n, (_h, acq) in takeover.items()}
    delays = swarm.ack_delays()
    during = swarm.ack_delays(kill_at - 1.0, kill_at + 5.0)
    print(f"\nlease takeover after SIGKILL (s): {takeover_s}")
    print(f"ack delay, all {len(delays)} alarms: p50 {_p(delays, .5):.3f} p99 {_p(delays, .99):.3f} "
          f"max {max(delays):.3f} s; around the kill ({len(during)}): p50 {_p(during, .5):.3f} "
          f"p99 {_p(during, .99):.3f} max {max(during):.3f} s; resent {swarm.resent}")
    assert all(h == "w2" for h, _acq in takeover.values())
    assert max(takeover_s.values()) <= 5.0, takeover_s
    # Exactly one stored alarm per (device, boot, seq), every one pressed.
    rows = _query(url, "SELECT device_id, boot, seq, count(*) FROM alarms GROUP BY device_id, boot, seq")
    assert len(rows) == BUTTONS * PRESSES and all(r[3] == 1 for r in rows)
    assert {(r[0], r[1], r[2]) for r in rows} == set(swarm.pressed)
    # A button's presses fold into one incident; buttons 330 m apart do not fold together.
    [(incidents,)] = _query(url, "SELECT count(*) FROM incidents")
    assert incidents == BUTTONS
    assert len({swarm.incident[k] for k in swarm.pressed}) == BUTTONS
    # The survivor still answers, and its duties run: a supervision round happened after the kill.
    assert w2.api("GET", "/incidents").status_code == 200
    health = httpx.get(w2.base_url + "/healthz", timeout=5).json()
    assert set(health["leases"]) == set(DUTIES) and health["worker"] == "w2"


def _haproxy_config(tmp_path, certs, workers, https_port: int, http_port: int) -> Path:
    """The shipped deploy/haproxy/siaga.cfg with only its paths, ports and server lines replaced."""
    pem = tmp_path / "server.pem"
    pem.write_bytes(certs.cert.read_bytes() + certs.key.read_bytes())
    pem.chmod(0o600)
    text_ = (REPO / "deploy" / "haproxy" / "siaga.cfg").read_text()
    for old, new in (("bind :443 ", f"bind 127.0.0.1:{https_port} "), ("bind :80\n", f"bind 127.0.0.1:{http_port}\n"),
                     ("/etc/siaga/tls/server.pem", str(pem)),
                     ("    server w1 127.0.0.1:8112 check\n    server w2 127.0.0.1:8113 check\n",
                      "".join(f"    server w{i} 127.0.0.1:{s.port} check\n" for i, s in enumerate(workers, 1)))):
        assert old in text_, old
        text_ = text_.replace(old, new)
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text_)
    return cfg


@pytest.fixture
def haproxy(tmp_path, workers):
    from fleet_server.broker.mosquitto import free_port
    from tests.web.conftest import make_certs

    w, _url = workers
    certs = make_certs(tmp_path / "tls")
    https_port, http_port = free_port(), free_port()
    cfg = _haproxy_config(tmp_path, certs, w.servers, https_port, http_port)
    check = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    log = open(tmp_path / "haproxy.log", "wb")
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        base = f"https://127.0.0.1:{https_port}"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/healthz", verify=ssl.create_default_context(cafile=str(certs.ca)), timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        yield base, certs, http_port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def test_given_two_workers_behind_haproxy_when_operators_log_in_and_watch_the_feed_then_every_worker_shows_every_event(
        workers, haproxy, broker, chromium):
    import json
    from contextlib import ExitStack

    from websockets.sync.client import connect

    w, _url = workers
    w1, w2 = w[0], w[1]
    base, certs, http_port = haproxy
    tls = ssl.create_default_context(cafile=str(certs.ca))
    lb = httpx.Client(base_url=base, verify=tls, timeout=10)
    try:
        # Clear text is redirected; the balancer spreads requests over both workers.
        r = httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=5)
        assert r.status_code == 301 and r.headers["location"].startswith("https://")
        assert {lb.get("/healthz").json()["worker"] for _ in range(4)} == {"w1", "w2"}
        token = lb.post("/api/v1/auth/token", data={"username": "admin", "password": "admin-secret-1"}).json()[
            "access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        for _ in range(2):   # a token from one worker is good on the other
            assert lb.get("/api/v1/incidents", headers=auth).status_code == 200
        register_buttons(w1, ["btn-feed"])
        swarm = AlarmSwarm(broker, "feed-swarm", "swarm-secret", ["btn-feed"])
        with ExitStack() as stack:
            stack.callback(swarm.close)
            feeds = {"haproxy": stack.enter_context(connect(base.replace("https", "wss") + f"/api/v1/feed?token={token}",
                                                            ssl=tls))}
            for s in (w1, w2):
                feeds[s.env["SIAGA_WORKER_ID"]] = stack.enter_context(
                    connect(s.base_url.replace("http", "ws") + f"/api/v1/feed?token={token}"))
            for ws in feeds.values():
                assert json.loads(ws.recv(5))["type"] == "hello"
            swarm.press("btn-feed", 1)
            assert swarm.wait_all_acked(10)
            inc = swarm.incident[("btn-feed", 1, 1)]
            for name, ws in feeds.items():     # one worker handled the alarm; every feed shows it
                deadline = time.monotonic() + 10
                seen = False
                while not seen and time.monotonic() < deadline:
                    ev = json.loads(ws.recv(max(0.1, deadline - time.monotonic())))
                    seen = ev.get("type") == "incident" and (ev.get("incident") or {}).get("id") == inc
                assert seen, f"the feed through {name} never showed incident {inc}"
        # The console in headless Chromium through haproxy: its feed (wss) lands on one worker,
        # the next alarm on either; the row appears without a reload.
        from tests.support.browser import VIEWPORT, WAIT_MS, ConsolePage
        ctx = chromium.browser.new_context(viewport=VIEWPORT, ignore_https_errors=True)  # the test CA
        ctx.set_default_timeout(WAIT_MS)
        page = ConsolePage(ctx.new_page())
        register_buttons(w2, ["btn-console"], first=5)
        console_swarm = AlarmSwarm(broker, "console-swarm", "swarm-secret", ["btn-console"], first=5)
        try:
            page.login(base, "admin", "admin-secret-1")
            console_swarm.press("btn-console", 1)
            assert console_swarm.wait_all_acked(10)
            page.page.wait_for_selector(f"#queue [data-incident='{console_swarm.incident[('btn-console', 1, 1)]}']")
            assert page.errors == []
        finally:
            console_swarm.close()
            page.close()
        # The login throttle is shared: wrong passwords spread by the balancer over both workers
        # lock the name on both (settings.auth.lockout_failures = 5).
        for k in range(5):
            r = lb.post("/api/v1/auth/token", data={"username": "admin", "password": f"nope-{k}"})
            assert r.status_code == 401, (k, r.text)
        for srv in (w1, w2):
            r = httpx.post(srv.base_url + "/api/v1/auth/token",
                           data={"username": "admin", "password": "admin-secret-1"}, timeout=10)
            assert r.status_code == 429 and r.json()["code"] == "too_many_attempts"
    finally:
        lb.close()
