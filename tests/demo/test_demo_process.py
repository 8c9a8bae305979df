"""The demo process itself: SIGTERM stops everything it started, as Ctrl-C does; a quick restart
keeps its ports (a socket in TIME_WAIT is no reason to move); a port something really listens on
is refused loudly, before anything starts."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from simulators.demo import cli_commands, siaga_command
from tests.demo.conftest import Demo, processes_under, siaga_argv, env, wait_until
from tests.support.paths import REPO


def _refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_sigterm_stops_the_city_the_server_and_the_broker_and_a_quick_restart_keeps_the_same_ports(tmp_path):
    first = Demo(tmp_path / "run")
    try:
        first.start()
        assert processes_under(first.workdir), "the demo's broker and server should be running"
        # Connections the server closes itself leave its port in TIME_WAIT after it stops.
        for _ in range(3):
            assert httpx.get(first.base_url + "/healthz", timeout=5).status_code == 200
        first.signal(signal.SIGTERM)
        assert first.wait(60) == 0
        assert "Demo stopped: broker and server are down." in first.output()
        assert wait_until(lambda: not processes_under(first.workdir), timeout=10), processes_under(first.workdir)
        assert _refused(first.http_port) and _refused(first.mqtt_port)
    finally:
        first.stop()

    again = Demo(tmp_path / "run", http_port=first.http_port, mqtt_port=first.mqtt_port)
    try:
        again.start()
        assert f"Console: {first.base_url}/console/" in again.output()
        assert httpx.get(first.base_url + "/healthz", timeout=5).status_code == 200
    finally:
        again.stop()
    assert wait_until(lambda: not processes_under(again.workdir), timeout=10)


def test_a_port_another_program_listens_on_is_refused_loudly_and_nothing_starts(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(siaga_argv() + ["demo", "--workdir", str(tmp_path / "run"), "--http-port", str(port),
                                              "--mqtt-port", "0"],
                              cwd=REPO, env=env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    said = " ".join((done.stdout + done.stderr).split())
    assert f"port {port} on 127.0.0.1 is in use by another program" in said and "--http-port" in said
    assert not (tmp_path / "run").exists() and not processes_under(tmp_path / "run")


def test_python_m_fleet_server_cli_is_the_siaga_command_and_its_help_marks_no_prompted_option_required():
    # `python -m fleet_server.cli` is how a checkout without the console script runs siaga: it must
    # run, not exit silently. An option that is asked for when omitted is not "[required]".
    for command, option in ((["admin", "create-user"], "--password"), (["sim", "run"], "--password")):
        done = subprocess.run([sys.executable, "-m", "fleet_server.cli", *command, "--help"], cwd=REPO, env=env(),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "Usage:" in done.stdout, done.stdout + done.stderr
        line = next(ln for ln in done.stdout.splitlines() if option in ln)
        assert "asked for" in line and "[required]" not in line, line


def test_a_demo_started_as_a_module_prints_commands_that_run_the_same_code():
    # Started with `python -m fleet_server.cli demo`, the demo runs the code under the current
    # directory; the venv's console script may belong to another checkout, so it prints the module.
    module = siaga_command(argv0=str(REPO / "fleet_server" / "cli.py"))
    assert module.endswith(" -m fleet_server.cli") and Path(module.split()[0]).name.startswith("python")
    assert cli_commands(REPO / "run" / "demo", module)[1] == f"{module} admin create-user rina --role dispatcher"
