"""The fleet server as a child process (`siaga serve` under uvicorn) against a given broker and
database: started, health-checked, killed (SIGKILL: a crash) or stopped, restarted on the same
database. The demo, the simulators and the end-to-end tests all start the server through this."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from fleet_server.broker.mosquitto import free_port
from fleet_server.secrets_files import private_dir, tighten, write_private
from fleet_server.settings import REPO_ROOT


class FleetServer:
    def __init__(self, workdir: Path, mqtt_host: str, mqtt_port: int, *, mqtt_user: str = "fleet-server",
                 mqtt_password: str = "server-secret", admin: tuple[str, str] = ("admin", "admin-secret-1"),
                 port: int | None = None, database_url: str | None = None, jwt_secret: str | None = None,
                 env: dict | None = None):
        self.workdir = private_dir(Path(workdir))   # its database, keys and log are secrets
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url or f"sqlite:///{self.workdir / 'siaga.db'}"
        self.log = self.workdir / "server.log"
        self.admin = admin
        self.env = {
            "SIAGA_DATA_DIR": str(self.workdir), "SIAGA_DATABASE_URL": self.database_url,
            "SIAGA_MQTT_HOST": mqtt_host, "SIAGA_MQTT_PORT": str(mqtt_port),
            "SIAGA_MQTT_USERNAME": mqtt_user, "SIAGA_MQTT_PASSWORD": mqtt_password,
            "SIAGA_JWT_SECRET": jwt_secret or os.urandom(24).hex(),
            "SIAGA_ADMIN_BOOTSTRAP": f"{admin[0]}:{admin[1]}",
            "SIAGA_CONFIG": str(self.workdir / "siaga.toml"),
        }
        self.env.update(env or {})
        self.proc: subprocess.Popen | None = None
        self.token: str | None = None
        self._logf = None

    def start(self, timeout: float = 30) -> "FleetServer":
        env = dict(os.environ)
        env.update(self.env)
        if not self.log.exists():
            write_private(self.log, b"")
        tighten(self.log)
        self._logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from fleet_server.cli import app; app()", "serve", "--port", str(self.port)],
            cwd=REPO_ROOT, env=env, stdout=self._logf, stderr=subprocess.STDOUT, start_new_session=True)
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

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def _close_log(self) -> None:
        if self._logf:
            self._logf.close()
            self._logf = None
