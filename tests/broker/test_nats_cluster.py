"""The clustered broker (fleet_server/broker/nats_cluster.py) for real: three nats-server nodes with
JetStream and their MQTT listeners on loopback, haproxy in front, the fleet server consuming through
NATS (broker.transport = "nats"), and the real panic-button firmware under MicroPython, unchanged."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from fleet_server.broker import nats_cluster
from fleet_server.broker.nats_cluster import ALARM_STREAM
from protocols import topics
from simulators.devices.firmware_button import FirmwareButton
from simulators.fleet.button import SimButton
from tests.conftest import broker_tls
from tests.support import aio
from tests.support.center import Center
from tests.support.cluster import running_cluster
from tests.support.mqtt import Recorder

pytestmark = pytest.mark.timeout(120)


def _wait(pred, timeout=15.0, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(step)
    return pred()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with running_cluster(tmp_path_factory) as c:
        yield c


@pytest.fixture(scope="module")
def center(cluster, tmp_path_factory):
    c = Center(cluster, tmp_path_factory.mktemp("center"),
               env={"SIAGA_MQTT_TRANSPORT": "nats", "SIAGA_MQTT_NATS_SERVERS": ",".join(cluster.urls)})
    c.server.start()
    try:
        yield c
    finally:
        c.server.stop()


def _button(tmp_path, cluster, dev, lat=-6902474, lon=107618770, **kw):
    return FirmwareButton(tmp_path / dev, dev, "pw-" + dev, cluster.host, cluster.port, category="medical",
                          lat=lat, lon=lon, hold_ms=300, heartbeat_s=30, resend_s=1, **kw)


def test_given_the_cluster_when_a_firmware_button_is_pressed_then_one_incident_and_the_ack_reaches_it(
        cluster, center, tmp_path):
    center.register("btn-nc-01", "pw-btn-nc-01", site="Gedung Sate", lat_udeg=-6902474, lon_udeg=107618770,
                    category="medical")
    btn = _button(tmp_path, cluster, "btn-nc-01")
    btn.start()
    try:
        assert btn.wait_feedback("idle", timeout=20), btn.output()[-2000:]
        btn.press()
        assert btn.wait_feedback("received", timeout=15), btn.output()[-2000:]
        assert btn.outbox() == []
        incs = _wait(lambda: [i for i in center.incidents() if i["origin_device_id"] == "btn-nc-01"])
        assert len(incs) == 1
        # the dispatcher's transition goes back to the button over the cluster (a command)
        center.transition(incs[0]["id"], "acknowledged")
        center.transition(incs[0]["id"], "dispatched")
        assert btn.wait_feedback("dispatched", timeout=10), btn.output()[-2000:]
    finally:
        btn.stop()


def test_given_a_button_with_the_city_ca_pinned_when_it_connects_over_tls_then_its_sos_is_acked(
        cluster, center, tmp_path):
    """haproxy's TLS front (the broker certificate of siaga pki): the firmware verifies it against
    the CA on its flash, as it does Mosquitto's TLS listener, and says so in its heartbeat."""
    # away from the other tests' buttons, so its alarm opens an incident of its own
    center.register("btn-nc-tls", "pw-btn-nc-tls", site="Terminal Cicaheum", lat_udeg=-6902900, lon_udeg=107656400,
                    category="medical")
    btn = FirmwareButton(tmp_path / "tls", "btn-nc-tls", "pw-btn-nc-tls", cluster.host, cluster.tls.port,
                         category="medical", lat=-6902900, lon=107656400, hold_ms=300, heartbeat_s=30, resend_s=1,
                         tls=True, ca_file="ca.pem")
    (btn.flash / "ca.pem").write_bytes(cluster.tls.ca.read_bytes())
    btn.start()
    try:
        assert btn.wait_feedback("idle", timeout=20), btn.output()[-2000:]
        assert "tls_unverified" not in btn.output()
        btn.press()
        assert btn.wait_feedback("received", timeout=15), btn.output()[-2000:]
        assert btn.outbox() == []
        assert _wait(lambda: [i for i in center.incidents() if i["origin_device_id"] == "btn-nc-tls"])
    finally:
        btn.stop()


def test_given_a_button_pinned_to_another_ca_then_it_never_trusts_the_clusters_tls_front(cluster, tmp_path):
    other = broker_tls(tmp_path / "other-ca")
    cluster.add_account("btn-nc-forged", "pw-forged")
    cluster.reload()
    btn = FirmwareButton(tmp_path / "forged", "btn-nc-forged", "pw-forged", cluster.host, cluster.tls.port,
                         category="medical", lat=-6902474, lon=107618770, hold_ms=300, heartbeat_s=30, resend_s=1,
                         tls=True, ca_file="ca.pem")
    (btn.flash / "ca.pem").write_bytes(other.ca.read_bytes())
    btn.start()
    try:
        assert btn.wait_feedback("no_connection", timeout=15), btn.output()[-2000:]
        assert not btn.wait_feedback("idle", timeout=3), "a front the pinned CA did not sign is never trusted"
    finally:
        btn.stop()


def test_given_device_accounts_when_one_publishes_on_anothers_topics_then_the_cluster_refuses(cluster):
    cluster.add_account("acl-a", "pw-a")
    cluster.add_account("acl-b", "pw-b")
    cluster.reload()
    watcher = Recorder(cluster.host, cluster.nodes[0].mqtt_port, "observer", "observer-secret",
                       topics=("siaga/v1/dev/+/up/#", "siaga/v1/dev/+/down/#"))
    a = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="acl-a")
    a.username_pw_set("acl-a", "pw-a")
    granted = {}
    a.on_subscribe = lambda c, u, mid, rcs, props: granted.update({mid: [int(r.value) for r in rcs]})
    a.connect(cluster.host, cluster.port)
    a.loop_start()
    try:
        time.sleep(1.0)   # the observer's subscriptions are in place on every node
        a.publish(topics.up("acl-b", "alarm"), b"forged", qos=1).wait_for_publish(5)
        a.publish(topics.down("acl-a", "ack"), b"self-ack", qos=1).wait_for_publish(5)
        a.publish(topics.up("acl-a", "health"), b"own", qos=1).wait_for_publish(5)
        _, mid_other = a.subscribe(topics.subscription_down("acl-b"), qos=1)
        _, mid_own = a.subscribe(topics.subscription_down("acl-a"), qos=1)
        # where NATS delivers every QoS 1 subscription: a device must not read it over MQTT either
        _, mid_internal = a.subscribe("$MQTT/sub/#", qos=1)
        _, mid_all = a.subscribe("#", qos=1)
        assert watcher.wait_for(lambda m: m.payload == b"own", timeout=10)
        time.sleep(0.5)
        seen = [m.payload for m in watcher.matching(lambda m: True)]
        assert b"forged" not in seen and b"self-ack" not in seen
        assert _wait(lambda: len(granted) == 4, timeout=5)
        assert granted[mid_internal] == [0x80] and granted[mid_all] == [0x80]
        assert granted[mid_other] == [0x80], "another device's downlink is not for it"
        assert granted[mid_own] == [1]
        assert "Publish Violation" in "".join((cluster.workdir / n.name / "nats.log").read_text() for n in cluster.nodes)
    finally:
        a.loop_stop()
        a.disconnect()
        watcher.close()


def _refuse_downlink(monkeypatch, cluster, dev):
    """Take the device's downlink out of its subscribe permission and reload the nodes: its SUBACK
    then says 0x80 for that filter, as while JetStream re-elects. Returns the call that lifts it."""
    granted = nats_cluster.device_permissions

    def no_downlink(d):
        perms = granted(d)
        if d == dev:
            perms["subscribe"]["allow"] = [a for a in perms["subscribe"]["allow"] if ".down." not in a]
        return perms
    monkeypatch.setattr(nats_cluster, "device_permissions", no_downlink)
    cluster.reload()

    def lift():
        monkeypatch.setattr(nats_cluster, "device_permissions", granted)
        cluster.reload()
    return lift


def test_given_the_cluster_refuses_a_buttons_subscription_then_it_reconnects_until_granted_and_its_sos_is_acked(
        cluster, center, tmp_path, monkeypatch):
    """The firmware logs the refusal, drops the link and reconnects with backoff, its SOS kept on
    flash; once the permission is back, the next connect subscribes and the pending SOS is acked."""
    dev = "btn-nc-deaf"
    center.register(dev, "pw-" + dev, site="Braga", lat_udeg=-6917000, lon_udeg=107609000, category="medical")
    lift = _refuse_downlink(monkeypatch, cluster, dev)
    refused = f'why="broker refused subscription {topics.subscription_down(dev)}"'
    btn = _button(tmp_path, cluster, dev, lat=-6917000, lon=107609000, backoff_min_ms=200, backoff_max_ms=1000)
    btn.start()
    try:
        assert _wait(lambda: btn.output().count(refused) >= 1, timeout=20), btn.output()[-2000:]
        btn.press()
        assert _wait(lambda: len(btn.outbox()) == 1, timeout=5), "the SOS is on flash"
        pending = btn.outbox()
        seen = btn.output().count(refused)
        assert _wait(lambda: btn.output().count(refused) >= seen + 2, timeout=20), \
            "refused again at each reconnect: " + btn.output()[-2000:]
        assert btn.outbox() == pending and btn.feedback() != "received", "not acked, not dropped"
        assert btn.output().count(" mqtt_up ") >= seen + 2, "it reconnects after each refusal"
        lift()
        assert btn.wait_feedback("received", timeout=20), btn.output()[-3000:]
        assert btn.outbox() == [], "the pending SOS is acked"
        incs = [i for i in center.incidents() if i["origin_device_id"] == dev]
        assert len(incs) == 1 and len(center.incident(incs[0]["id"])["alarms"]) == 1, "stored once, resends and all"
    finally:
        btn.stop()
        lift()


def test_given_the_cluster_refuses_a_simulated_buttons_subscription_then_it_reconnects_as_the_firmware_does(
        cluster, center, monkeypatch):
    """The protocol-level button the benchmarks use (simulators.fleet.button) does the same."""
    dev = "btn-nc-deaf-sim"
    center.register(dev, "pw-" + dev, site="Cikapundung", lat_udeg=-6913000, lon_udeg=107611000, category="medical")
    lift = _refuse_downlink(monkeypatch, cluster, dev)

    async def scenario():
        b = SimButton(dev, "pw-" + dev, cluster.host, cluster.port, lat=-6913000, lon=107611000,
                      category="medical", resend_s=1.0, heartbeat_s=600)
        await b.start()
        try:
            key = b.press()
            deadline = time.monotonic() + 20
            while b.subscription_refusals < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            refusals = b.subscription_refusals
            pending = key in b.outbox
            await asyncio.to_thread(lift)
            deadline = time.monotonic() + 20
            while b.outbox and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return refusals, pending, dict(b.outbox), b.acked
        finally:
            await b.stop()
    try:
        refusals, pending, outbox, acked = aio.run(scenario(), timeout=60)
    finally:
        lift()
    assert refusals >= 3, "refused, reconnected, refused again"
    assert pending, "the SOS stays pending while the device cannot hear its ack"
    assert outbox == {} and len(acked) == 1, "acked once subscribed"


def test_given_the_cluster_when_a_device_dies_then_its_retained_birth_and_will_are_there_for_a_newcomer(cluster):
    cluster.add_account("bw-01", "pw-bw")
    cluster.reload()
    status = topics.up("bw-01", "status")
    d = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bw-01")
    d.username_pw_set("bw-01", "pw-bw")
    d.will_set(status, b'{"state":"offline"}', qos=1, retain=True)
    d.connect(cluster.host, cluster.nodes[1].mqtt_port, keepalive=2)
    d.loop_start()
    d.publish(status, b'{"state":"online"}', qos=1, retain=True).wait_for_publish(5)
    time.sleep(0.5)
    # a newcomer on another node gets the retained birth
    r1 = Recorder(cluster.host, cluster.nodes[2].mqtt_port, "observer", "observer-secret", topics=(status,))
    try:
        assert r1.wait_for(lambda m: m.payload == b'{"state":"online"}' and m.retain, timeout=10)
    finally:
        r1.close()
    # the device dies without DISCONNECT (its socket dropped): its will replaces the retained birth
    d.loop_stop()
    d.socket().close()
    time.sleep(4)   # 1.5 keepalives of 2 s
    r2 = Recorder(cluster.host, cluster.nodes[0].mqtt_port, "observer", "observer-secret", topics=(status,))
    try:
        got = r2.wait_for(lambda m: m.retain, timeout=10)
        assert got and got[-1].payload == b'{"state":"offline"}'
    finally:
        r2.close()


def test_given_an_alarm_a_node_took_when_that_node_is_killed_then_the_button_reconnects_elsewhere_and_it_is_acked(
        cluster, center, tmp_path):
    """The worker is frozen (SIGSTOP) so the alarm the node PUBACKed waits in the replicated stream;
    then the node the button is connected to is SIGKILLed and the worker thawed: the alarm comes
    from the surviving replicas, and the ack reaches the button on another node."""
    dev = "btn-nc-kill"
    # far from the other tests' button, so its alarm is an incident of its own, not folded
    center.register(dev, "pw-" + dev, site="Alun-alun", lat_udeg=-6921000, lon_udeg=107607000, category="fire")
    btn = _button(tmp_path, cluster, dev, lat=-6921000, lon=107607000, keepalive_s=5)
    btn.start()
    victim = None
    worker = center.server.proc.pid
    try:
        assert btn.wait_feedback("idle", timeout=20), btn.output()[-2000:]
        assert _wait(lambda: cluster.node_of_client(dev) is not None, timeout=5)
        victim = cluster.node_of_client(dev)
        os.killpg(worker, signal.SIGSTOP)
        try:
            btn.press()
            assert _wait(lambda: len(btn.outbox()) == 1, timeout=5), "the alarm is pending on the button"
            stream = _wait(lambda: _alarms_in_stream(cluster) >= 1, timeout=5)
            assert stream, "the node took the alarm into the replicated stream"
            cluster.kill_node(victim)
            killed_at = time.monotonic()
        finally:
            os.killpg(worker, signal.SIGCONT)
        assert btn.wait_feedback("received", timeout=30), btn.output()[-3000:]
        back_s = time.monotonic() - killed_at
        assert btn.outbox() == [], "0 pending on the device"
        assert _wait(lambda: cluster.node_of_client(dev) not in (None, victim), timeout=5), \
            "the button is connected to another node"
        incs = [i for i in center.incidents() if i["origin_device_id"] == dev]
        assert len(incs) == 1 and len(center.incident(incs[0]["id"])["alarms"]) == 1
        print(json.dumps({"node_killed": cluster.nodes[victim].name, "acked_after_kill_s": round(back_s, 2)}))
    finally:
        btn.stop()
        if victim is not None and cluster.nodes[victim].proc.poll() is not None:
            cluster.start_node(victim)
            cluster.wait_ready(20)


def _alarms_in_stream(cluster) -> int:
    for n in cluster.nodes:
        if n.proc is not None and n.proc.poll() is None:
            try:
                jsz = cluster.monitor(n, "jsz?streams=true&accounts=true")
            except OSError:
                continue
            for acc in jsz.get("account_details") or []:
                for st in acc.get("stream_detail") or []:
                    if st["name"] == ALARM_STREAM:
                        return st["state"]["messages"]
    return 0
