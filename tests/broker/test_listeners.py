"""What the broker's listeners let in: plaintext from loopback only, TLS for everyone else, and no
payload larger than the protocol's limit (protocols.messages.MAX_PAYLOAD)."""
from __future__ import annotations

import socket
import ssl

import paho.mqtt.client as mqtt
import pytest

from protocols import topics
from protocols.messages import MAX_PAYLOAD
from tests.broker.clients import PROTOCOLS, Client
from tests.conftest import OBSERVER_PASS, OBSERVER_USER
from tests.support.mqtt import Recorder


def outside_address() -> str:
    """This machine's address on its network (not loopback), as a device elsewhere would reach it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.254", 9))   # UDP: no packet is sent, the kernel only picks the route's source
        addr = s.getsockname()[0]
    assert not addr.startswith("127."), "the test needs a non-loopback interface"
    return addr


def test_the_plaintext_listener_is_not_reachable_from_outside_loopback(broker):
    addr = outside_address()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((addr, broker.port), timeout=5).close()
    with socket.create_connection(("127.0.0.1", broker.port), timeout=5):
        pass   # the local services' way in is there


def test_devices_from_outside_reach_the_broker_over_tls_only(broker):
    broker.add_account("btn-far", "pw-far")
    broker.reload()
    addr = outside_address()
    # With the city CA, a device on the network connects (the certificate names 127.0.0.1 and
    # localhost, so check the chain here, and the name in the firmware test).
    ctx = ssl.create_default_context(cafile=str(broker.tls.ca))
    ctx.check_hostname = False
    with socket.create_connection((addr, broker.tls.port), timeout=5) as raw, ctx.wrap_socket(raw) as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    # Plain MQTT on the TLS port gets no CONNACK: the broker wants a TLS handshake first.
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="btn-far")
    c.username_pw_set("btn-far", "pw-far")
    answered = []
    c.on_connect = lambda *a: answered.append(a[3])
    try:
        c.connect(addr, broker.tls.port, keepalive=5)
        for _ in range(30):
            if c.loop(timeout=0.1) != mqtt.MQTT_ERR_SUCCESS:
                break
    except (OSError, ssl.SSLError):
        pass
    finally:
        c.disconnect()
    assert answered == [], f"the TLS listener answered plain MQTT: {answered}"


def test_a_broker_signed_by_another_ca_is_refused_by_a_pinned_client(broker, tmp_path):
    from tests.conftest import broker_tls
    other = broker_tls(tmp_path / "other-ca")
    ctx = ssl.create_default_context(cafile=str(other.ca))
    with socket.create_connection(("127.0.0.1", broker.tls.port), timeout=5) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(raw, server_hostname="127.0.0.1")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_payload_over_the_protocol_limit_is_refused_by_the_broker(broker, protocol):
    broker.add_account("btn-big", "pw-big")
    broker.reload()
    watch = Recorder(broker.host, broker.port, OBSERVER_USER, OBSERVER_PASS, topics=(topics.subscription_up("+"),))
    dev = Client(broker, "btn-big", "pw-big", "btn-big", protocol, tls=True).connect()
    try:
        topic = topics.up("btn-big", "health")
        # QoS 0: refused, it is not resent (under MQTT 5 the broker also drops the connection with
        # "packet too large"; the client reconnects and goes on).
        dev.publish(topic, b"x" * (MAX_PAYLOAD + 1), qos=0)
        ok = dev.publish(topic, b"y" * MAX_PAYLOAD)
        assert ok.is_published()
        # Same session, in order: once the limit-sized message arrived, the oversize one would have too.
        got = watch.wait_for(lambda m: m.topic == topic and m.payload.startswith(b"y"), timeout=10)
        assert len(got) == 1
        assert [len(m.payload) for m in watch.matching(lambda m: m.topic == topic)] == [MAX_PAYLOAD]
    finally:
        dev.close()
        watch.close()
