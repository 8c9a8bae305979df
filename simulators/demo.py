"""`siaga demo`: the whole command center on one machine — our Mosquitto (per-device credentials and
ACL), the fleet server on SQLite, and the simulated city of Bandung — until Ctrl-C (or --duration).
Everything it starts lives under run/demo/ and is stopped when it ends."""
from __future__ import annotations

import asyncio
import secrets
import shutil
import socket
import time
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.panel import Panel
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from fleet_server.broker import Mosquitto
from fleet_server.broker.mosquitto import free_port
from fleet_server.process import FleetServer
from fleet_server.settings import REPO_ROOT
from simulators.api_client import FleetApi
from simulators.city import CityRun, provision
from simulators.scenario import load

console = Console()
BANDUNG = REPO_ROOT / "simulators" / "scenarios" / "bandung.yaml"
CITY_AREAS = REPO_ROOT / "fleet_server" / "data" / "bandung"


def _port_or_free(port: int) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            return free_port()


def status_table(run: CityRun, api: FleetApi | None, url: str) -> Table:
    s = run.stats.summary(run.buttons)
    t = Table(title="Siaga 112 — simulated Bandung", expand=False)
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_row("console", url)
    t.add_row("devices connected", f"{s['devices_connected'] + sum(1 for x in run.trackers.values() if x.client.is_connected)}"
              f" / {len(run.buttons) + len(run.trackers)}")
    t.add_row("alarms sent / acked / pending", f"{s['alarms_sent']} / {s['alarms_acked']} / {s['alarms_pending']}")
    t.add_row("alarm → ack p50 / p99 (ms)", f"{_ms(s['ack_ms_p50'])} / {_ms(s['ack_ms_p99'])}")
    t.add_row("pranks closed", str(s["pranks_closed"]))
    t.add_row("broker outages survived", str(s["broker_outages"]))
    return t


def _ms(v) -> str:
    return "-" if v is None else f"{v:.0f}"


async def _city(run: CityRun, api: FleetApi, url: str, duration: float | None, loop: bool) -> dict:
    await run.start()
    t_end = time.monotonic() + duration if duration else None
    with Live(status_table(run, api, url), console=console, refresh_per_second=2, transient=False) as live:
        tick = lambda r: live.update(status_table(r, api, url))  # noqa: E731
        while True:
            left = None if t_end is None else t_end - time.monotonic()
            if left is not None and left <= 0:
                break
            summary = await asyncio.wait_for(run.play(on_tick=tick, settle_s=10), timeout=left) if left else \
                await run.play(on_tick=tick, settle_s=10)
            if not loop:
                break
    return summary


def main(duration: float | None = None, speedup: float | None = None, scenario: Path = BANDUNG,
         workdir: Path | None = None, http_port: int = 8112, mqtt_port: int = 18830, loop: bool = True) -> int:
    workdir = workdir or (REPO_ROOT / "run" / "demo")
    if workdir.exists():
        shutil.rmtree(workdir)  # a demo starts from a clean city every time
    workdir.mkdir(parents=True)
    admin_pw = secrets.token_urlsafe(9)
    server_pw = secrets.token_urlsafe(18)
    broker = Mosquitto(workdir / "broker", port=_port_or_free(mqtt_port))
    server: FleetServer | None = None
    api = None
    run = None
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as pr:
            t = pr.add_task("Loading the Bandung scenario", total=4)
            sc = load(scenario)
            pr.update(t, advance=1, description=f"Starting Mosquitto on 127.0.0.1:{broker.port}")
            broker.add_account("fleet-server", server_pw, role="server")
            broker.start()
            pr.update(t, advance=1, description="Starting the fleet server (SQLite)")
            server = FleetServer(workdir / "server", broker.host, broker.port, mqtt_password=server_pw,
                                 admin=("admin", admin_pw), port=_port_or_free(http_port),
                                 env={"SIAGA_JURISDICTION_FILE": str(CITY_AREAS), "SIAGA_LOG_JSON": "true"}).start(60)
            pr.update(t, advance=1, description=f"Registering {len(sc.buttons)} buttons and {len(sc.units)} units")
            api = FleetApi(server.base_url, "admin", admin_pw)
            creds = provision(sc, api, broker)
            pr.update(t, advance=1, description="Ready")
        url = f"{server.base_url}/console/"
        console.print(Panel.fit(f"[bold]Console:[/bold] {url}\n[bold]Login:[/bold] admin / {admin_pw}\n"
                                f"API docs: {server.base_url}/docs   Logs: {workdir}\nCtrl-C stops everything.",
                                title="Siaga 112 demo is running"))
        run = CityRun(sc, broker.host, broker.port, creds, api=api, broker=broker, speedup=speedup, heartbeat_s=30)
        try:
            asyncio.run(_run_and_stop(run, api, url, duration, loop))
        except asyncio.TimeoutError:
            pass
        return 0
    except KeyboardInterrupt:
        console.print("Stopping…")
        return 0
    finally:
        if api:
            api.close()
        if server:
            server.stop()
        broker.stop()
        console.print("Demo stopped: broker and server are down.")


async def _run_and_stop(run: CityRun, api, url, duration, loop) -> None:
    try:
        await _city(run, api, url, duration, loop)
    finally:
        await run.stop()
