"""The real `siaga demo` as a user starts it: a child process (the console script's code, from the
repository), on free ports and a temporary state directory, read from what it prints. Every demo
started here is stopped (SIGINT, then SIGKILL of its process group) even when a test fails."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from fleet_server.broker.mosquitto import free_port
from tests.support.paths import REPO

READY = "Commands that reach this demo"


def siaga_argv() -> list[str]:
    """`siaga` as installed in this venv (its console script), else the module."""
    script = Path(sys.executable).parent / "siaga"
    return [str(script)] if script.exists() else [sys.executable, "-m", "fleet_server.cli"]


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    e.pop("SIAGA_CONFIG", None)
    e["COLUMNS"] = "200"
    return e


class Demo:
    def __init__(self, workdir: Path, http_port: int | None = None, mqtt_port: int | None = None,
                 extra: tuple[str, ...] = ()):
        self.workdir = workdir
        self.http_port = http_port or free_port()
        self.mqtt_port = mqtt_port or free_port()
        self.base_url = f"http://127.0.0.1:{self.http_port}"
        self.out_path = workdir.parent / f"{workdir.name}-{time.monotonic_ns()}.out"
        self.extra = extra
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90.0) -> "Demo":
        self._out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(
            siaga_argv() + ["demo", "--workdir", str(self.workdir), "--http-port", str(self.http_port),
                            "--mqtt-port", str(self.mqtt_port), *self.extra],
            cwd=REPO, env=env(), stdout=self._out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        while READY not in self.output():
            if self.proc.poll() is not None:
                raise AssertionError(f"siaga demo exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"siaga demo not ready within {timeout}s:\n{self.output()[-3000:]}")
            time.sleep(0.2)
        return self

    def output(self) -> str:
        return self.out_path.read_text(errors="replace") if self.out_path.exists() else ""

    @property
    def admin_password(self) -> str:
        return re.search(r"admin / (\S+)", self.output()).group(1)

    @property
    def technician_password(self) -> str:
        return re.search(r"technician / (\S+?)\)", self.output()).group(1)

    def station_users(self) -> dict[str, tuple[str, str]]:
        """{user: (password, station name)} of the printed station users."""
        return {u: (pw, name) for u, pw, name in re.findall(r"(\w+) / (\S+) \(([^)]+)\)\s*│?\n", self.output())
                if u not in ("admin", "technician")}

    def commands(self) -> list[str]:
        """The printed commands (not their comments), in order."""
        text = self.output().split(READY, 1)[1]
        lines = text.split("\n")[1:]
        out = []
        for ln in lines:
            if not ln.startswith("  "):
                break
            if not ln.strip().startswith("#"):
                out.append(ln.strip())
        return out

    def token(self, username: str = "admin", password: str | None = None) -> str:
        r = httpx.post(self.base_url + "/api/v1/auth/token",
                       data={"username": username, "password": password or self.admin_password}, timeout=10)
        r.raise_for_status()
        return r.json()["access_token"]

    def api(self, method: str, path: str, token: str | None = None, **kw) -> httpx.Response:
        return httpx.request(method, self.base_url + "/api/v1" + path,
                             headers={"Authorization": f"Bearer {token or self.token()}"}, timeout=10, **kw)

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def wait(self, timeout: float = 60.0) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        # Whatever the demo left (it must leave nothing: the tests say so) does not outlive the test.
        for pid in processes_under(self.workdir):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if getattr(self, "_out", None):
            self._out.close()


def processes_under(workdir: Path) -> list[int]:
    """Processes whose command line or environment names the demo's directory: its Mosquitto
    (-c <workdir>/broker/mosquitto.conf) and its fleet server (SIAGA_DATA_DIR=<workdir>/server)."""
    needle = str(workdir).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            seen = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in seen:
            found.append(int(entry.name))
    return found


def run_printed(command: str, export: str, stdin: str = "", timeout: float = 120.0) -> subprocess.CompletedProcess:
    """A printed command run by bash as a user pastes it, after the printed export, from the
    directory the demo was started in."""
    return subprocess.run(["bash", "-c", f"{export}\n{command}"], cwd=REPO, env=env(), input=stdin, text=True,
                          capture_output=True, timeout=timeout, start_new_session=True)


def wait_until(predicate, timeout: float = 10.0, every: float = 0.2):
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(every)
        value = predicate()
    return value


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = Demo(tmp_path_factory.mktemp("demo") / "run")
    try:
        yield d.start()
    finally:
        d.stop()
