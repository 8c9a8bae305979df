"""The harness starts a real Mosquitto with our generated config and always stops it; the ACL
pins each device to its own topics."""
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from fleet_server.broker import Mosquitto, hash_password, verify_password
from protocols import topics
from tests.conftest import OBSERVER_USER, OBSERVER_PASS
from tests.support.mqtt import Recorder


def _connect(broker, user, password):
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user)
    c.username_pw_set(user, password)
    rc = c.connect(broker.host, broker.port, 10)
    c.loop_start()
    return c


def test_password_hashes_are_mosquitto_pbkdf2_sha512():
    h = hash_password("secret", salt=b"\xc3\xf9\xe5u\x88\xe2\xcba\xd6.\xe4\x14")
    # Produced by `mosquitto_passwd -b` 2.0.11 for the same salt and password.
    assert h == ("$7$101$w/nldYjiy2HWLuQU$gOWiYq3RDGKoQhtJ4jThJkM4rZqEZZIxVUZJe/Hd5pjbUUEb+ztzKwRvmBWvny41ulYSmK+gs9DGyzoa1XW8Ew==")
    assert verify_password("secret", h) and not verify_password("Secret", h)


def test_device_reaches_its_own_topic_but_not_anothers(broker):
    broker.add_account("btn-a", "pw-a")
    broker.add_account("btn-b", "pw-b")
    broker.reload()
    rec = Recorder(broker.host, broker.port, OBSERVER_USER, OBSERVER_PASS)
    try:
        dev = _connect(broker, "btn-a", "pw-a")
        dev.publish(topics.up("btn-a", "alarm"), b"mine", qos=1).wait_for_publish(5)
        # Under MQTT 3.1.1 a denied publish still gets a PUBACK: check that nothing was delivered.
        dev.publish(topics.up("btn-b", "alarm"), b"forged", qos=1).wait_for_publish(5)
        dev.publish(topics.down("btn-a", "ack"), b"self-ack", qos=1).wait_for_publish(5)
        got = rec.wait_for(lambda m: m.payload == b"mine", timeout=5)
        assert len(got) == 1
        assert rec.wait_for(lambda m: m.payload in (b"forged", b"self-ack"), timeout=1) == []
        dev.loop_stop()
        dev.disconnect()
    finally:
        rec.close()


def test_wrong_password_is_refused(broker):
    broker.add_account("btn-a", "pw-a")
    broker.reload()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="intruder")
    c.username_pw_set("btn-a", "guess")
    result = {}
    c.on_connect = lambda cl, ud, fl, rc, pr: result.setdefault("rc", rc)
    c.connect(broker.host, broker.port, 10)
    c.loop_start()
    import time
    deadline = time.monotonic() + 5
    while "rc" not in result and time.monotonic() < deadline:
        time.sleep(0.05)
    c.loop_stop()
    assert result["rc"].is_failure


def test_broker_process_is_gone_after_stop(tmp_path):
    b = Mosquitto(tmp_path / "b").start()
    pid = b.proc.pid
    b.stop()
    import os
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_given_a_broker_just_started_when_it_is_reloaded_at_once_then_it_keeps_running(tmp_path):
    """Mosquitto listens before it installs its SIGHUP handler: start() returns only after the
    broker logged "running", so a device account added right after start never kills it."""
    b = Mosquitto(tmp_path / "b")
    try:
        for i in range(15):
            b.start()
            b.add_account(f"btn-{i}", "pw")
            b.reload()
            assert b.running, f"start {i}: the broker died on the reload (log: {b.log.read_text()[-300:]})"
            b.stop()
    finally:
        b.stop()
    assert b.log.read_text().count(" running") == 15


def test_a_running_broker_can_be_attached_and_given_a_new_account(broker):
    """The demo's broker is started by one process; provisioning and `sim run` attach to it later."""
    from fleet_server.broker import Mosquitto
    from tests.conftest import SERVER_USER
    attached = Mosquitto.attach(broker.workdir)
    assert attached.port == broker.port and attached.accounts[SERVER_USER].role == "server"
    attached.add_account("btn-late", "pw-late")
    attached.reload()
    rec = Recorder(broker.host, broker.port, OBSERVER_USER, OBSERVER_PASS)
    try:
        dev = _connect(broker, "btn-late", "pw-late")
        dev.publish(topics.up("btn-late", "health"), b"hello", qos=1).wait_for_publish(5)
        assert rec.wait_for(lambda m: m.payload == b"hello", timeout=5)
        dev.loop_stop()
        dev.disconnect()
    finally:
        rec.close()


def test_the_recorder_says_when_the_broker_refuses_it(broker):
    with pytest.raises(ConnectionRefusedError):
        Recorder(broker.host, broker.port, OBSERVER_USER, "wrong-password")


def test_given_the_free_port_it_chose_is_taken_before_it_binds_then_it_starts_on_another(tmp_path):
    """A port found free is only free until someone binds it: with the whole suite starting brokers,
    servers and clients at once, another process took one in between (mosquitto exited 1). Ports the
    broker chose itself are chosen again; a port the caller gave is its answer, with the reason."""
    import socket

    from tests.conftest import broker_tls

    b = Mosquitto(tmp_path / "auto", tls=broker_tls(tmp_path / "pki"))
    squatters = []
    for port in (b.port, b.tls.port):
        s = socket.socket()
        s.bind(("127.0.0.1" if port == b.port else "", port))
        s.listen()
        squatters.append((s, port))
    try:
        b.start()
        try:
            assert b.port != squatters[0][1] and b.tls.port != squatters[1][1]
            _connect(b, "nobody", "x").disconnect()   # the plaintext listener answers
            with socket.create_connection(("127.0.0.1", b.tls.port), timeout=5):
                pass
        finally:
            b.stop()
        given = Mosquitto(tmp_path / "given", port=squatters[0][1])
        with pytest.raises(RuntimeError, match="Address already in use"):
            given.start()
        assert given.port == squatters[0][1]
    finally:
        for s, _ in squatters:
            s.close()
