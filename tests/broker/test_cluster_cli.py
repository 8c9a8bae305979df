"""`siaga cluster start|status|account|stop` as the city's IT staff run them (docs/deploy.md): the three
NATS nodes and haproxy left running by one command, a device account added to the running cluster and
let in at once, and the whole cluster stopped by another command, each a separate process."""
from __future__ import annotations

import os
import ssl
import stat
import subprocess
import sys
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from protocols import topics
from simulators.bench.db_failover import free_block
from tests.conftest import SERVER_PASS, SERVER_USER
from tests.support.paths import REPO

pytestmark = pytest.mark.timeout(180)


def _siaga(env, *args, stdin=None, timeout=90):
    return subprocess.run([sys.executable, "-c", "from fleet_server.cli import app; app()", *args], cwd=REPO,
                          env=env, input=stdin, capture_output=True, text=True, timeout=timeout)


def _connects(port, dev, password, ca=None) -> tuple[int, bool]:
    """(CONNACK reason, a QoS 1 publish on its own topic acknowledged) through haproxy; over TLS
    with the CA `ca` pinned when given."""
    got = {}
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=dev, protocol=mqtt.MQTTv311)
    c.username_pw_set(dev, password)
    if ca is not None:
        c.tls_set_context(ssl.create_default_context(cafile=str(ca)))
    c.on_connect = lambda cl, u, flags, rc, props: got.setdefault("rc", int(rc.value))
    c.loop_start()
    try:
        c.connect("127.0.0.1", port)
        deadline = time.monotonic() + 10
        while "rc" not in got and time.monotonic() < deadline:
            time.sleep(0.05)
        if got.get("rc") != 0:
            return got.get("rc", -1), False
        info = c.publish(topics.up(dev, "health"), b"{}", qos=1)
        info.wait_for_publish(10)
        return 0, info.is_published()
    finally:
        c.loop_stop()
        c.disconnect()


def _alive(pid: int) -> bool:
    """Running (a zombie whose parent, the start command, is gone has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_given_siaga_cluster_commands_then_the_cluster_runs_takes_an_account_and_stops(tmp_path):
    taken: set[int] = set()
    d = tmp_path / "cluster"
    env = dict(os.environ, SIAGA_DATA_DIR=str(tmp_path / "data"), SIAGA_BROKER__USERNAME=SERVER_USER,
               SIAGA_BROKER__PASSWORD=SERVER_PASS, SIAGA_LANG="en")
    mqtt_port = free_block(1, taken)
    ports = ["--mqtt-port", str(mqtt_port), "--client-port", str(free_block(3, taken)),
             "--route-port", str(free_block(3, taken)), "--node-mqtt-port", str(free_block(3, taken)),
             "--http-port", str(free_block(3, taken))]
    where = ["--dir", str(d)]
    # The city CA and the broker certificate devices are provisioned against, as for Mosquitto.
    for cmd in (["pki", "create-ca"], ["pki", "server-cert", "--host", "127.0.0.1"]):
        made = _siaga(env, *cmd)
        assert made.returncode == 0, made.stdout + made.stderr
    ca = tmp_path / "data" / "pki" / "ca.pem"
    tls_port = free_block(1, taken)
    started = _siaga(env, "cluster", "start", *where, *ports, "--tls-port", str(tls_port),
                     "--tls-host", "127.0.0.1")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"127.0.0.1:{mqtt_port}" in started.stdout and "SIAGA_MQTT_NATS_SERVERS=" in started.stdout
        assert f"devices with TLS on 127.0.0.1:{tls_port}" in started.stdout, started.stdout
        assert SERVER_PASS not in started.stdout + started.stderr
        # The accounts and the TLS key on disk: hashes only, readable by their owner alone.
        for f in (d / "accounts.conf", d / "cluster.json", d / "haproxy-tls.pem"):
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
            assert SERVER_PASS not in f.read_text()

        st = _siaga(env, "cluster", "status", *where)
        assert st.returncode == 0, st.stdout + st.stderr
        rows = [r for r in st.stdout.splitlines() if r.strip()]
        assert len(rows) == 3 and all(": up " in r for r in rows), st.stdout
        leaders = {r.split("leader=")[1].split()[0] for r in rows}
        assert len(leaders) == 1 and leaders != {"None"}, st.stdout   # every node names the same meta leader

        dev = "btn-cli-0001"
        rc, _ = _connects(mqtt_port, dev, "pw-cli-0001")
        assert rc != 0, "an account the cluster does not have is refused"
        added = _siaga(env, "cluster", "account", dev, *where, "--password", "pw-cli-0001")
        assert added.returncode == 0, added.stdout + added.stderr
        assert "pw-cli-0001" not in (d / "accounts.conf").read_text() + added.stdout + added.stderr
        rc, acked = _connects(mqtt_port, dev, "pw-cli-0001")
        assert rc == 0 and acked, "the running nodes took the new account without a restart"
        rc, acked = _connects(tls_port, dev, "pw-cli-0001", ca=ca)
        assert rc == 0 and acked, "the same account over haproxy's TLS front, the city CA pinned"
        other = tmp_path / "other-pki"
        assert _siaga(env, "pki", "create-ca", "--dir", str(other)).returncode == 0
        with pytest.raises(ssl.SSLCertVerificationError):
            _connects(tls_port, dev, "pw-cli-0001", ca=other / "ca.pem")

        bad = _siaga(env, "cluster", "account", "someone", *where, "--role", "root", "--password", "x")
        assert bad.returncode == 2 and "role 'root'" in bad.stderr, bad.stdout + bad.stderr

        pids = [int((d / n / "nats.pid").read_text()) for n in ("n1", "n2", "n3")
                if (d / n / "nats.pid").exists()] + [int((d / "haproxy.pid").read_text())]
        assert len(pids) == 4 and all(_alive(p) for p in pids), pids
    finally:
        stopped = _siaga(env, "cluster", "stop", *where)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    deadline = time.monotonic() + 15
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids), "every node and haproxy ended"
    after = _siaga(env, "cluster", "status", *where)
    assert after.returncode == 1 and after.stdout.count("DOWN") == 3, after.stdout + after.stderr

    missing = _siaga(env, "cluster", "status", "--dir", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and "siaga cluster start" in missing.stderr, missing.stdout + missing.stderr
    no_cert = _siaga(env, "cluster", "start", "--dir", str(tmp_path / "c2"), "--tls", "--pki-dir",
                     str(tmp_path / "no-pki"))
    assert no_cert.returncode == 1 and "no broker certificate" in no_cert.stderr, no_cert.stdout + no_cert.stderr
