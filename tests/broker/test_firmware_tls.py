"""The real firmware (MicroPython binary) against the real broker's TLS listener: with the city CA
pinned it connects, raises an alarm and gets its ack; pinned to another CA it never trusts the
broker (an impostor could forge acks and silence an SOS)."""
from __future__ import annotations

from tests.conftest import broker_tls
from tests.firmware.conftest import center, make_button  # noqa: F401 (fixtures)


def test_a_button_with_the_city_ca_pinned_connects_over_tls_and_its_alarm_is_acked(center, make_button, broker):  # noqa: F811
    btn = make_button(port=broker.tls.port, tls=True, ca_file="ca.pem")
    (btn.flash / "ca.pem").write_bytes(broker.tls.ca.read_bytes())
    btn.start()
    assert btn.wait_feedback("idle", 15), btn.output()[-1500:]
    assert "tls_unverified" not in btn.output()
    [h] = center.wait_uplinks("health", 1, timeout=10)
    assert h["sec"] == "tls", "its heartbeat says the link is TLS with the broker verified"
    btn.press()
    [a] = center.wait_uplinks("alarm", 1, timeout=10)
    center.ack(a)
    assert btn.wait_feedback("received", 10), btn.output()[-1500:]
    log = broker.log.read_text()
    assert f"on port {broker.tls.port}" in log and a["dev"] in log


def test_a_button_without_tls_says_so_in_every_heartbeat(center, make_button, broker):  # noqa: F811
    """A SIM800 has no TLS: provisioned --no-tls, the device runs plain MQTT and says so."""
    btn = make_button(tls=False).start()
    assert btn.wait_feedback("idle", 15), btn.output()[-1500:]
    [h] = center.wait_uplinks("health", 1, timeout=10)
    assert h["sec"] == "plain"


def test_a_button_pinned_to_another_ca_refuses_the_broker(center, make_button, broker, tmp_path):  # noqa: F811
    other = broker_tls(tmp_path / "other-ca")
    btn = make_button("forged", port=broker.tls.port, tls=True, ca_file="ca.pem")
    (btn.flash / "ca.pem").write_bytes(other.ca.read_bytes())
    btn.start()
    assert btn.wait_feedback("no_connection", 15), btn.output()[-1500:]
    assert not btn.wait_feedback("idle", 3), "a broker the pinned CA did not sign is never trusted"
    assert "mqtt_down" in btn.output()
    btn.press()
    assert not center.wait_uplinks("alarm", 1, timeout=2), "the alarm went to a broker the device does not trust"
