"""The whole fleet server as a subprocess (uvicorn via `siaga serve`) against a given broker and
database, for end-to-end tests: start, kill (SIGKILL, a crash), restart with the same database.

    srv = FleetServer(tmp_path / "srv", broker).start()
    try:
        httpx.get(srv.base_url + "/api/v1/incidents", headers=srv.auth())
    finally:
        srv.stop()

The `fleet_server` fixture in tests/server/conftest.py wraps it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from fleet_server.broker.mosquitto import free_port
from tests.support.paths import REPO

ADMIN_USER, ADMIN_PASS = "admin", "admin-secret-1"


class FleetServer:
    def __init__(self, workdir: Path, broker, database_url: str | None = None, mqtt_user: str = "fleet-server",
                 mqtt_password: str = "server-secret", env: dict | None = None,
                 admin: tuple[str, str] = (ADMIN_USER, ADMIN_PASS)):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.broker = broker
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url or f"sqlite:///{self.workdir / 'siaga.db'}"
        self.log = self.workdir / "server.log"
        self.env = {
            "SIAGA_DATA_DIR": str(self.workdir), "SIAGA_DATABASE_URL": self.database_url,
            "SIAGA_MQTT_HOST": broker.host, "SIAGA_MQTT_PORT": str(broker.port),
            "SIAGA_MQTT_USERNAME": mqtt_user, "SIAGA_MQTT_PASSWORD": mqtt_password,
            "SIAGA_JWT_SECRET": "test-jwt-secret-with-32-bytes-or-more!",
            "SIAGA_ADMIN_BOOTSTRAP": f"{admin[0]}:{admin[1]}",
            "SIAGA_SUPERVISE_EVERY_S": "0.5", "SIAGA_LOG_LEVEL": "INFO",
            "SIAGA_CONFIG": str(self.workdir / "none.toml"),
        }
        self.env.update(env or {})
        self.admin = admin
        self.proc: subprocess.Popen | None = None
        self.token: str | None = None

    def start(self, timeout: float = 30) -> "FleetServer":
        env = dict(os.environ)
        env.update(self.env)
        self._logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from fleet_server.cli import app; app()", "serve", "--port", str(self.port)],
            cwd=REPO, env=env, stdout=self._logf, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"fleet server exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
            try:
                r = httpx.get(self.base_url + "/healthz", timeout=1)
                if r.status_code == 200 and (self.env.get("SIAGA_RUN_INGEST") == "false" or r.json()["broker_link"]):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError(f"fleet server not ready within {timeout}s:\n{self.output()[-3000:]}")
        # The admin exists once the app started (bootstrap from the environment, or made by the CLI).
        self.token = self.login(*self.admin)
        return self

    def login(self, username: str, password: str) -> str:
        r = httpx.post(self.base_url + "/api/v1/auth/token", data={"username": username, "password": password},
                       timeout=10)
        r.raise_for_status()
        return r.json()["access_token"]

    def auth(self, token: str | None = None) -> dict:
        return {"Authorization": f"Bearer {token or self.token}"}

    def api(self, method: str, path: str, token: str | None = None, **kw) -> httpx.Response:
        return httpx.request(method, self.base_url + "/api/v1" + path, headers=self.auth(token), timeout=10, **kw)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: the server crashes mid-work."""
        if self.running:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._close_log()

    def stop(self) -> None:
        if self.running:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._close_log()

    def restart(self, env: dict | None = None) -> "FleetServer":
        self.stop()
        if env:
            self.env.update(env)
        return self.start()

    def _close_log(self) -> None:
        if getattr(self, "_logf", None):
            self._logf.close()
            self._logf = None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
