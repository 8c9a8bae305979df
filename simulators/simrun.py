"""`siaga sim run SCENARIO`: play a scenario against any broker and fleet server, with a live
summary (devices connected, messages/s, alarms sent/acked, incidents open, alarm→ack p50/p99)."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from fleet_server.broker import Mosquitto
from simulators.api_client import FleetApi
from simulators.city import CityRun, provision
from simulators.scenario import load

console = Console()


class Summary:
    def __init__(self, run: CityRun, api: FleetApi):
        self.run, self.api = run, api
        self.t0 = time.monotonic()
        self.last = (self.t0, 0)
        self.rate = 0.0
        self.open_incidents = 0
        self._polled = 0.0

    def table(self) -> Table:
        devices = [*self.run.buttons.values(), *self.run.trackers.values()]
        sent = sum(sum(d.sent.values()) for d in devices)
        now = time.monotonic()
        if now - self.last[0] >= 1:
            self.rate = (sent - self.last[1]) / (now - self.last[0])
            self.last = (now, sent)
        if now - self._polled > 2:
            try:
                self.open_incidents = len(self.api.incidents(open=True))
            except Exception:
                pass
            self._polled = now
        s = self.run.stats.summary(self.run.buttons)
        t = Table(title=f"{self.run.sc.name} ×{self.run.speedup:g} — {now - self.t0:.0f}s")
        t.add_column("measure")
        t.add_column("value", justify="right")
        t.add_row("devices connected", f"{sum(1 for d in devices if d.client.is_connected)} / {len(devices)}")
        t.add_row("messages/s (uplink)", f"{self.rate:.0f}")
        t.add_row("alarms sent / acked", f"{s['alarms_sent']} / {s['alarms_acked']}")
        t.add_row("incidents open", str(self.open_incidents))
        t.add_row("alarm→ack p50 / p99 ms", f"{s['ack_ms_p50'] or 0:.0f} / {s['ack_ms_p99'] or 0:.0f}")
        if self.run.stats.errors:
            t.add_row("[red]problems", "; ".join(self.run.stats.errors[-2:]))
        return t


async def _play(run: CityRun, summary: Summary, once: bool) -> dict:
    await run.start()
    try:
        with Live(summary.table(), console=console, refresh_per_second=2) as live:
            while True:
                result = await run.play(on_tick=lambda r: live.update(summary.table()))
                live.update(summary.table())
                if once:
                    return result
    finally:
        await run.stop()


def main(scenario: str, server: str, user: str, password: str, broker_host: str, broker_port: int,
         broker_dir: str | None, speedup: float | None, once: bool) -> int:
    sc = load(Path(scenario))
    api = FleetApi(server, user, password)
    broker = Mosquitto.attach(Path(broker_dir)) if broker_dir else None
    if broker is None:
        console.print("[yellow]No --broker-dir: device accounts must already exist on the broker.")
    creds = provision(sc, api, broker)
    run = CityRun(sc, broker_host, broker.port if broker else broker_port, creds, api=api, broker=None, speedup=speedup)
    try:
        result = asyncio.run(_play(run, Summary(run, api), once))
        console.print(result)
        return 0 if not run.stats.errors else 1
    except KeyboardInterrupt:
        return 0
    finally:
        api.close()
