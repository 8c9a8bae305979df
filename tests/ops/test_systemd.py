"""deploy/systemd as shipped: every unit passes `systemd-analyze verify` (Debian's systemd) with
only the install prefix replaced, so the ExecStart binaries exist here; each service runs as the
dedicated user, hardened, restarted, with its state in /var/lib/siaga; and the broker unit's own
commands (`siaga broker config`, then mosquitto on the written config) give a broker the server's
account logs in to, keeping the device accounts provisioning wrote."""
from __future__ import annotations

import configparser
import stat
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from fleet_server.broker import pki
from fleet_server.broker.mosquitto import Mosquitto, free_port

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "deploy" / "systemd"
PREFIX = "/opt/siaga/bin/siaga"
SIAGA = Path(sys.executable).with_name("siaga")
SERVICES = ("siaga.service", "siaga-broker.service", "siaga-backup.service")
ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"


def unit(name: str) -> configparser.ConfigParser:
    p = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    p.optionxform = str
    p.read_string(_templated(name))
    return p


def _templated(name: str) -> str:
    text = (UNITS / name).read_text()
    if name.endswith(".service"):
        assert PREFIX in text, f"{name} does not run {PREFIX}"
    return text.replace(PREFIX, str(SIAGA))


def _verify(directory: Path, names) -> subprocess.CompletedProcess:
    return subprocess.run([ANALYZE, "verify", "--man=no", *[str(directory / n) for n in names]],
                          capture_output=True, text=True, timeout=120, cwd=directory)


def test_given_the_shipped_units_then_systemd_analyze_verifies_them_without_a_warning(tmp_path):
    assert SIAGA.is_file(), SIAGA
    names = sorted(p.name for p in UNITS.iterdir())
    assert set(SERVICES) | {"siaga-backup.timer"} <= set(names)
    for n in names:
        (tmp_path / n).write_text(_templated(n))
    r = _verify(tmp_path, names)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), r.stdout + r.stderr


def test_given_a_unit_with_a_typo_or_a_missing_binary_then_verify_refuses_it(tmp_path):
    """The check above can fail: the same verify on a broken copy does."""
    text = _templated("siaga-broker.service")
    (tmp_path / "broken.service").write_text(text.replace("/usr/sbin/mosquitto", str(tmp_path / "no-mosquitto"))
                                             .replace("NoNewPrivileges=", "NoNewPrivilegez="))
    r = _verify(tmp_path, ["broken.service"])
    assert r.returncode != 0
    assert "NoNewPrivilegez" in r.stderr and "no-mosquitto" in r.stderr


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_runs_as_the_dedicated_user_hardened_with_its_state_in_var_lib_siaga(name):
    s = unit(name)["Service"]
    assert (s["User"], s["Group"]) == ("siaga", "siaga")
    assert "siaga" in s["StateDirectory"].split() and s["StateDirectoryMode"] == "0700"
    assert "Environment=SIAGA_DATA_DIR=/var/lib/siaga" in _templated(name).splitlines()
    assert s["UMask"] == "0077"
    for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"),
                       ("PrivateTmp", "yes"), ("CapabilityBoundingSet", ""), ("RestrictSUIDSGID", "yes")):
        assert s[key] == value, (name, key)
    if name != "siaga-backup.service":
        assert s["Restart"] == "always" and s["RestartSec"]
        assert unit(name)["Install"]["WantedBy"] == "multi-user.target"


def test_the_server_unit_upgrades_the_database_before_it_serves_and_follows_the_broker():
    u = unit("siaga.service")
    assert u["Service"]["ExecStartPre"] == f"{SIAGA} db upgrade"
    assert u["Service"]["ExecStart"] == f"{SIAGA} serve"
    assert "siaga-broker.service" in u["Unit"]["After"] and "siaga-broker.service" in u["Unit"]["Wants"]
    assert unit("siaga-backup.timer")["Install"]["WantedBy"] == "timers.target"


def _connect(port: int, user: str, password: str) -> mqtt.ReasonCode:
    got = []
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="")
    c.username_pw_set(user, password)
    c.on_connect = lambda cl, ud, flags, rc, props: got.append(rc)
    c.connect("127.0.0.1", port, 30)
    c.loop_start()
    try:
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        c.loop_stop()
        c.disconnect()
    assert got, "no CONNACK within 10 s"
    return got[0]


def test_given_the_broker_units_commands_then_mosquitto_serves_the_server_account_and_keeps_devices(tmp_path):
    data = tmp_path / "var-lib-siaga"
    pki.create_ca(data / "pki")
    pki.server_cert(data / "pki", ["127.0.0.1", "localhost"])
    port, tls_port = free_port(), free_port()
    env = {**os.environ, "SIAGA_DATA_DIR": str(data), "SIAGA_CONFIG": "/nonexistent.toml",
           "SIAGA_BROKER__PASSWORD": "server-secret-9"}
    pre = shlex.split(unit("siaga-broker.service")["Service"]["ExecStartPre"])
    assert pre == [str(SIAGA), "broker", "config"]
    # The unit's command, run on this checkout's code (the venv's script may name another copy).
    cmd = [sys.executable, "-m", "fleet_server.cli", *pre[1:], "--port", str(port), "--tls-port", str(tls_port)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, cwd=REPO)
    assert first.returncode == 0, first.stderr
    # Provisioning adds a device to the directory (as broker_sync does), the unit restarts: it is kept.
    b = Mosquitto.attach(data / "broker")
    b.add_account("btn-dago", "device-pw-1")
    b._write_files()
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, cwd=REPO)
    assert again.returncode == 0, again.stderr
    conf = data / "broker" / "mosquitto.conf"
    start = shlex.split(unit("siaga-broker.service")["Service"]["ExecStart"])
    assert start == ["/usr/sbin/mosquitto", "-c", "/var/lib/siaga/broker/mosquitto.conf"]
    for f in ("mosquitto.conf", "passwd", "acl"):
        assert oct((data / "broker" / f).stat().st_mode & 0o777) == "0o600"
    proc = subprocess.Popen([start[0], "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        assert _connect(port, "fleet-server", "server-secret-9") == 0
        assert _connect(port, "fleet-server-alarms", "server-secret-9") == 0
        assert _connect(port, "btn-dago", "device-pw-1") == 0
        assert _connect(port, "fleet-server", "wrong-password") != 0
    finally:
        proc.terminate()
        proc.wait(10)


def test_given_no_certificate_or_no_password_then_broker_config_refuses_with_the_reason(tmp_path):
    env = {**os.environ, "SIAGA_DATA_DIR": str(tmp_path), "SIAGA_CONFIG": "/nonexistent.toml",
           "SIAGA_BROKER__PASSWORD": "x-secret-1"}
    siaga = [sys.executable, "-m", "fleet_server.cli", "broker", "config"]
    r = subprocess.run(siaga, capture_output=True, text=True, timeout=60, env=env, cwd=REPO)
    assert r.returncode == 1 and "siaga pki create-ca" in r.stderr
    env["SIAGA_BROKER__PASSWORD"] = ""
    r = subprocess.run([*siaga, "--no-tls"], capture_output=True, text=True, timeout=60, env=env, cwd=REPO)
    assert r.returncode == 1 and "broker.password is empty" in r.stderr


def test_given_the_backup_units_commands_then_a_dated_private_backup_is_written_and_old_ones_pruned(tmp_path):
    s = unit("siaga-backup.service")["Service"]
    backups = tmp_path / "siaga-backups"
    backups.mkdir(mode=0o700)
    old = backups / "siaga-20200101T000000Z.backup"
    old.write_bytes(b"old")
    os.utime(old, (time.time() - 30 * 86400,) * 2)
    db = f"sqlite:///{tmp_path / 'data' / 'siaga.db'}"
    env = {**os.environ, "SIAGA_CONFIG": "/nonexistent.toml", "SIAGA_DATABASE_URL": db}
    assert subprocess.run([sys.executable, "-m", "fleet_server.cli", "db", "upgrade"], cwd=REPO, env=env,
                          capture_output=True, timeout=120).returncode == 0

    def command(line: str) -> list[str]:   # systemd's %% is %; the unit's paths point at this test's
        line = line.replace("%%", "%").replace("/var/lib/siaga-backups", str(backups))
        return [part.replace(f"exec {SIAGA} ", f"exec {sys.executable} -m fleet_server.cli ")
                for part in shlex.split(line)]

    run = subprocess.run(command(s["ExecStart"]), cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    made = [p for p in backups.glob("siaga-*.backup") if p != old]
    assert len(made) == 1 and len(made[0].name) == len("siaga-20261206T061500Z.backup"), made
    assert made[0].read_bytes()[:16] == b"SQLite format 3\x00"
    assert stat.S_IMODE(made[0].stat().st_mode) == 0o600
    prune = subprocess.run(command(s["ExecStartPost"]), capture_output=True, text=True, timeout=60)
    assert prune.returncode == 0, prune.stderr
    assert not old.exists() and made[0].exists()
