"""Provisioning numbers: how long each step of `siaga device provision` takes against a
simulated board (MicroPython on a pty), the real fleet server and Mosquitto; how many bytes a board
receives per kind and board; and how long the broker reload from the server's records takes with
1,000 and 10,000 registered devices. `python -m simulators.bench.provisioning [--smoke]`

The pty moves bytes far faster than a USB-UART at 115200 baud: the file-writing time here is a lower
bound; the byte counts are what a real board receives (bench/results/provisioning.json)."""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from fleet_server.broker import Mosquitto, hash_password
from fleet_server.provisioning import broker_sync
from fleet_server.provisioning.firmware_files import device_files
from fleet_server.provisioning.provision import DeviceSpec, Provisioning, Site
from fleet_server.provisioning.registry import DeviceRegistry
from fleet_server.storage import devices as device_repo
from fleet_server.storage.db import Database
from simulators.bench.results import percentiles, write
from simulators.usbdevice import UsbDevice
from tests.support.server import FleetServer

STEPS = ("port", "registered", "broker", "files", "verified")
CONFIG = {"dev": "btn-x", "password": "p" * 24, "host": "10.0.0.2", "port": 1883, "site": "Taman Lansia",
          "lat": -6902100, "lon": 107622400}


def _payloads() -> dict:
    out = {}
    for kind, board, cfg in (("button", "esp32_button", CONFIG), ("button", "picow_button", CONFIG),
                             ("button", None, CONFIG), ("tracker", "sim", {k: CONFIG[k] for k in ("dev", "password", "host")})):
        f = device_files(kind, cfg, board)
        # Computed, not measured: 10 bit times a byte at 115200 baud, before the raw REPL's repr()
        # of each chunk and its round trips; a floor for a real USB-UART.
        out[f"{kind}/{board or 'every-port'}"] = {"files": len(f.files), "bytes": f.total_bytes,
                                                  "uart_floor_s_at_115200_computed": round(f.total_bytes * 10 / 115200, 1)}
    return out


def _provision_runs(work: Path, runs: int) -> dict:
    broker = Mosquitto(work / "broker")
    broker.add_account("fleet-server", "server-secret", role="server")
    broker.add_account("observer", "observer-secret", role="observer")
    broker.start()
    server = board = None
    samples: dict[str, list[float]] = {s: [] for s in (*STEPS, "total")}
    try:
        server = FleetServer(work / "server", broker).start()
        site = Site(DeviceRegistry(server.base_url, server.token), broker.workdir, server.database_url,
                    work / "technician", broker.host, broker.port, "observer", "observer-secret", online_timeout_s=30)
        for i in range(runs):
            board = UsbDevice(work / f"board-{i}").start()
            t0 = time.monotonic()
            last = [t0]
            seen: dict[str, float] = {}

            def step(name: str, text: str) -> None:
                now = time.monotonic()
                # "port" fires twice (opening, answered): keep the time to the answer
                seen[name] = now - last[0] if name != "port" else now - t0
                last[0] = now
            Provisioning(site, on_step=step).provision(
                DeviceSpec(kind="button", board="sim", site="Taman Lansia", lat=-6.9021, lon=107.6224,
                           device_id=f"btn-bench-{i:03d}"), board.port)
            samples["total"].append(time.monotonic() - t0)
            for s in STEPS:
                samples[s].append(seen.get(s, float("nan")))
            board.stop()
            board = None
    finally:
        if board is not None:
            board.stop()
        if server is not None:
            server.stop()
        broker.stop()
    # the "verified" step includes the reboot (reported separately by on_step as "reboot")
    return {s: {k: (round(v, 3) if isinstance(v, float) else v) for k, v in percentiles(samples[s]).items()}
            for s in samples}


def _sync_scaling(work: Path, sizes: list[int]) -> dict:
    out = {}
    h = hash_password("bench-secret")   # one hash for all: hashing is not what is measured
    for n in sizes:
        d = work / f"sync-{n}"
        broker = Mosquitto(d / "broker")
        broker.add_account("fleet-server", "server-secret", role="server")
        broker.start()
        try:
            url = f"sqlite:///{d / 'siaga.db'}"
            db = Database(url)
            with db.session() as s:
                for i in range(n):
                    device_repo.create(s, f"btn-{i:06d}", "button", 0.0, broker_password_hash=h, site="bench")
            db.dispose()
            times = []
            for _ in range(3):
                t0 = time.monotonic()
                r = broker_sync.sync(broker.workdir, url)
                times.append(time.monotonic() - t0 - broker_sync.RELOAD_SETTLE_S)
            assert r.devices == n
            out[str(n)] = {"seconds_best_of_3_without_settle": round(min(times), 3),
                           "passwd_bytes": broker.passwd.stat().st_size}
        finally:
            broker.stop()
    return out


def main(smoke: bool = False) -> Path:
    with tempfile.TemporaryDirectory(prefix="siaga-bench-prov-") as tmp:
        work = Path(tmp)
        data = {
            "payload_per_board": _payloads(),
            "provision_steps_s": _provision_runs(work, 1 if smoke else 5),
            "broker_sync_from_server_records": _sync_scaling(work, [100] if smoke else [1000, 10000]),
            "note": "simulated board on a pty: file writing is a lower bound for a USB-UART at 115200 baud",
        }
    path = write("provisioning", data, smoke=smoke)
    print(path)
    return path


if __name__ == "__main__":
    main(smoke="--smoke" in sys.argv)
