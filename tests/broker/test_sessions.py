"""Client ids belong to accounts: no credential can open, and so take over, another account's
session — a device's or one of the fleet server's — under MQTT 5 or 3.1.1. The victim stays
connected and its alarm gets through (an attacker holding the server's alarm session used to make
the broker drop it, and the alarms queued for it went to the attacker)."""
from __future__ import annotations

import json
import time

import httpx
import pytest

from fleet_server.broker import SERVER_SESSIONS, session_user
from protocols import codec_json, topics
from tests.broker.clients import PROTOCOLS, Client
from tests.conftest import OBSERVER_PASS, OBSERVER_USER, SERVER_USER
from tests.support.mqtt import Recorder


def _alarm(dev: str, seq: int) -> bytes:
    return codec_json.encode({"v": 1, "t": "alarm", "dev": dev, "boot": 1, "seq": seq, "ts": int(time.time()),
                              "cat": "medical", "trig": "button", "presses": 1, "lat": None, "lon": None,
                              "src": "none", "acc": None, "age": None})


def _takeovers(broker, *victims: str) -> list[str]:
    """The broker's log lines saying it dropped one of `victims` for a newcomer with its client id."""
    return [ln for ln in broker.log.read_text().splitlines() if "closing old connection" in ln
            and any(f"Client {v} already connected" in ln for v in victims)]


def _alarm_is_acked(broker, dev_id: str, password: str, seq: int, protocol: str = "mqtt311") -> list[dict]:
    """A device on the TLS listener sends an alarm and waits (bounded) for the server's app-level ack."""
    dev = Client(broker, dev_id, password, dev_id, protocol, tls=True, clean=False)
    acks: list[dict] = []
    dev.c.on_message = lambda c, u, m: acks.append(json.loads(m.payload))
    dev.connect()
    dev.c.subscribe(topics.down(dev_id, "ack"), qos=1)
    try:
        assert dev.publish(topics.up(dev_id, "alarm"), _alarm(dev_id, seq)).is_published()
        deadline = time.monotonic() + 15
        while not acks and time.monotonic() < deadline:
            time.sleep(0.05)
        return [a for a in acks if a["seq"] == seq]
    finally:
        dev.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("listener", ["tls", "loopback"])
def test_a_device_cannot_take_another_devices_session(broker, protocol, listener):
    broker.add_account("btn-victim", "pw-victim")
    broker.add_account("btn-attacker", "pw-attacker")
    broker.reload()
    tls = listener == "tls"
    watch = Recorder(broker.host, broker.port, OBSERVER_USER, OBSERVER_PASS, topics=(topics.subscription_up("alarm"),))
    victim = Client(broker, "btn-victim", "pw-victim", "btn-victim", protocol, tls=tls, clean=False).connect()
    try:
        # The attacker's own credentials, the victim's client id; clean start, as in the attack.
        attacker = Client(broker, "btn-attacker", "pw-attacker", "btn-victim", protocol, tls=tls).connect()
        try:
            assert attacker.publish(topics.up("btn-attacker", "alarm"), _alarm("btn-attacker", 1)).is_published()
            # The broker answered the attacker's CONNECT (and a publish after it): a takeover would
            # have dropped the victim by now. The victim's next alarm goes out on its own session.
            info = victim.publish(topics.up("btn-victim", "alarm"), _alarm("btn-victim", 1))
            assert info.is_published(), "the victim's alarm was not acknowledged by the broker"
            got = watch.wait_for(lambda m: m.topic == topics.up("btn-victim", "alarm"), timeout=10)
            assert len(got) == 1
            assert victim.drops == [], f"the victim was disconnected: {victim.drops}"
            assert _takeovers(broker, "btn-victim") == []
            # The attacker's session is its own account's, whatever it asked for.
            assert "btn-attacker" in broker.log.read_text()
        finally:
            attacker.close()
    finally:
        victim.close()
        watch.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_no_credential_can_take_the_servers_sessions_and_the_alarm_is_acked(center, broker, tmp_path, protocol):
    center.register("btn-real", "pw-real")
    center.register("btn-evil", "pw-evil")
    server_ids = [session_user(base, s) for base in (SERVER_USER, "siaga-fleet-server") for s in SERVER_SESSIONS]
    attackers = []
    try:
        for cid in server_ids:   # every client id the server uses or used, each with a clean session
            attackers.append(Client(broker, "btn-evil", "pw-evil", cid, protocol, tls=True).connect())
        # An observer's credential cannot either (it is not the server's).
        attackers.append(Client(broker, OBSERVER_USER, OBSERVER_PASS, session_user(SERVER_USER, "alarms"), protocol).connect())
        assert _alarm_is_acked(broker, "btn-real", "pw-real", 7, protocol), \
            f"no ack for the alarm: {center.server.output()[-2000:]}"
        assert _takeovers(broker, *server_ids, "btn-real") == [], "a session was taken over"
        assert "broker link down" not in center.server.output(), "the server's link was dropped"
        assert httpx.get(center.server.base_url + "/healthz", timeout=5).json()["broker_link"] is True
    finally:
        for a in attackers:
            a.close()


def test_a_server_configured_with_the_ca_ingests_over_tls(broker, tmp_path):
    """The fleet server on another host: the TLS listener, the broker verified against the CA."""
    from tests.support.center import Center
    c = Center(broker, tmp_path / "remote-center", env={"SIAGA_BROKER__PORT": str(broker.tls.port),
                                                       "SIAGA_BROKER__CA_FILE": str(broker.tls.ca)})
    c.server.start()
    try:
        c.register("btn-tls", "pw-tls")
        assert _alarm_is_acked(broker, "btn-tls", "pw-tls", 3), c.server.output()[-2000:]
        log = broker.log.read_text()
        assert f"on port {broker.tls.port}" in log
        server_lines = [ln for ln in log.splitlines() if "as fleet-server" in ln]
        assert server_lines, "the server's sessions are in the broker log"
    finally:
        c.server.stop()
    # With another CA pinned, the server does not trust the broker: its link stays down.
    from tests.conftest import broker_tls
    other = broker_tls(tmp_path / "other-ca")
    bad = Center(broker, tmp_path / "misled-center", env={"SIAGA_BROKER__PORT": str(broker.tls.port),
                                                         "SIAGA_BROKER__CA_FILE": str(other.ca)})
    with pytest.raises(RuntimeError, match="not ready"):
        bad.server.start(timeout=8)
