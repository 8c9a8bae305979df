"""The simulated city end to end, on real parts: our Mosquitto, the fleet server as a process, and the
Bandung scenario's buttons and trackers. Given its 2-minute timeline played 4x faster, every scripted
alarm becomes exactly one incident, every prank ends closed as a prank, the stuck button raised one
alarm, and the broker outages lost nothing."""
import asyncio

from tests.support import aio
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict

import httpx

from fleet_server.broker.mosquitto import free_port
from fleet_server.process import FleetServer
from simulators.api_client import FleetApi
from simulators.city import CityRun, provision
from simulators.demo import BANDUNG, CITY_AREAS
from simulators.scenario import load
from tests.conftest import SERVER_USER, SERVER_PASS
from tests.support.paths import REPO


def test_bandung_city_two_minutes_accelerated(broker, tmp_path):
    sc = load(BANDUNG)
    assert sc.duration_s >= 120 and any(e.event == "broker_outage" for e in sc.timeline)
    srv = FleetServer(tmp_path / "srv", broker.host, broker.port, mqtt_user=SERVER_USER, mqtt_password=SERVER_PASS,
                      env={"SIAGA_JURISDICTION_FILE": str(CITY_AREAS), "SIAGA_SUPERVISE_EVERY_S": "1"}).start()
    api = FleetApi(srv.base_url, *srv.admin)
    try:
        creds = provision(sc, api, broker)
        run = CityRun(sc, broker.host, broker.port, creds, api=api, broker=broker, speedup=4.0, heartbeat_s=20,
                      resend_s=1.0)

        async def play():
            await run.start()
            try:
                return await run.play(settle_s=45)
            finally:
                await run.stop()

        summary = aio.run(play())
        assert not run.stats.errors, run.stats.errors
        incidents = api.incidents()
        details = [api.incident(i["id"]) for i in incidents]
    finally:
        api.close()
        srv.stop()

    where = defaultdict(set)      # (device, boot, seq) -> incident ids
    alarms = {}
    for d in details:
        for a in d["alarms"]:
            where[(a["device_id"], a["boot"], a["seq"])].add(d["id"])
            alarms[(a["device_id"], a["boot"], a["seq"])] = a
    state = {d["id"]: d["state"] for d in details}

    scripted = run.stats.scripted
    assert len(scripted) == sum(1 for e in sc.timeline if e.event in ("alarm", "prank", "stuck", "tamper"))
    # The broker outages lost nothing: every scripted alarm was acked and is in exactly one incident.
    assert summary["alarms_pending"] == 0 and summary["broker_outages"] >= 1
    for button, (boot, seq), kind in scripted:
        assert len(where[(button, boot, seq)]) == 1, (button, boot, seq, kind)
    # Every prank was closed as a prank.
    pranks = [(b, k) for b, k, kind in scripted if kind == "prank"]
    assert pranks
    for button, (boot, seq) in pranks:
        (inc,) = where[(button, boot, seq)]
        assert state[inc] == "prank", (button, inc, state[inc])
    # The stuck button raised exactly one alarm, however long it stayed jammed.
    for ev in (e for e in sc.timeline if e.event == "stuck"):
        scripted_here = [k for b, k, _ in scripted if b == ev.button]
        assert len([a for (dev, *_), a in alarms.items() if dev == ev.button]) == len(scripted_here) == 1


def test_demo_starts_serves_and_stops_cleanly(tmp_path):
    """`siaga demo` brings up broker, server and city; it serves /healthz, the console page and at least
    one incident; Ctrl-C (SIGINT) stops it and everything it started."""
    http_port, mqtt_port = free_port(), free_port()
    workdir = tmp_path / "demo"
    log = open(tmp_path / "demo.log", "wb")
    proc = subprocess.Popen([sys.executable, "-c", "from fleet_server.cli import app; app()", "demo",
                             "--speedup", "10", "--http-port", str(http_port), "--mqtt-port", str(mqtt_port),
                             "--workdir", str(workdir)], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, COLUMNS="120"), preexec_fn=_sigint_ignored)
    base = f"http://127.0.0.1:{http_port}"
    try:
        deadline = time.monotonic() + 90
        seen = {}
        while time.monotonic() < deadline and len(seen) < 3:
            assert proc.poll() is None, (tmp_path / "demo.log").read_text()[-3000:]
            try:
                if "health" not in seen and httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    seen["health"] = True
                if "console" not in seen:
                    r = httpx.get(base + "/console/", timeout=2)
                    if r.status_code == 200 and "<html" in r.text.lower():
                        seen["console"] = True
                if "incident" not in seen and "health" in seen:
                    pw = _admin_password(tmp_path / "demo.log")
                    if pw:
                        tok = httpx.post(base + "/api/v1/auth/token", data={"username": "admin", "password": pw}).json()
                        incs = httpx.get(base + "/api/v1/incidents", headers={"Authorization": f"Bearer {tok['access_token']}"}).json()
                        if incs:
                            seen["incident"] = True
            except httpx.HTTPError:
                pass
            time.sleep(1)
        assert seen == {"health": True, "console": True, "incident": True}, seen
        broker_pid = int((workdir / "broker" / "mosquitto.pid").read_text())
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
    assert proc.returncode == 0, (tmp_path / "demo.log").read_text()[-3000:]
    out = (tmp_path / "demo.log").read_text()
    assert "Demo stopped" in out
    for port in (http_port, mqtt_port):
        with __import__("socket").socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open after the demo stopped"
    try:
        os.kill(broker_pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive


def _sigint_ignored():
    """Start the demo the way a shell without job control starts a background job (a script, a CI
    runner): with SIGINT ignored. Ctrl-C must stop it all the same."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _admin_password(log_path):
    import re

    found = re.search(r"Login: admin / (\S+)", log_path.read_text(errors="replace"))
    return found.group(1) if found else None
