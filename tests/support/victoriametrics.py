"""A real VictoriaMetrics (Debian's `victoria-metrics`): it accepts the InfluxDB v2 write API, so
the telemetry writer is tested against a real HTTP database. Started on a free loopback port with
its own storage directory; stop() always ends it."""
from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from fleet_server.broker.mosquitto import free_port

BINARY = "/usr/bin/victoria-metrics"


def binary() -> str:
    found = shutil.which("victoria-metrics") or (BINARY if Path(BINARY).exists() else None)
    if not found:
        raise RuntimeError("victoria-metrics not installed: apt-get install -y victoria-metrics")
    return found


class VictoriaMetrics:
    def __init__(self, workdir: Path, port: int | None = None):
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.log = self.workdir / "victoria-metrics.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> "VictoriaMetrics":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [binary(), f"-httpListenAddr=127.0.0.1:{self.port}", f"-storageDataPath={self.workdir / 'data'}",
             "-retentionPeriod=100y", "-search.latencyOffset=0s", "-loggerLevel=WARN"],
            stdout=self._logf, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"victoria-metrics exited with {self.proc.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=0.5) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"victoria-metrics did not answer on {self.url} within {timeout}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if getattr(self, "_logf", None):
            self._logf.close()
            self._logf = None

    def export(self, match: str) -> list[dict]:
        """Every raw sample of the series matching `match` (after forcing a flush), one dict a
        series: {"metric": {...}, "values": [...], "timestamps": [...]}."""
        urllib.request.urlopen(self.url + "/internal/force_flush", timeout=5).read()
        q = urllib.parse.urlencode({"match[]": match, "start": "0"})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{q}", timeout=10) as r:
            return [json.loads(line) for line in r.read().decode().splitlines() if line.strip()]

    def wait_for_samples(self, match: str, count: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            series = self.export(match)
            if sum(len(s["values"]) for s in series) >= count or time.monotonic() > deadline:
                return series
            time.sleep(0.2)
