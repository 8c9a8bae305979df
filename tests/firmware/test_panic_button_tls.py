"""Production brokers speak TLS: the firmware's non-blocking TLS handshake (ssl module of the
MicroPython binary) against a real TLS endpoint in front of the real broker."""
import pytest

from tests.support.firmware_tls import TlsFront


@pytest.fixture
def tls_front(broker, tmp_path):
    front = TlsFront(tmp_path / "tls", broker.host, broker.port)
    try:
        yield front
    finally:
        front.stop()


def test_given_a_tls_broker_then_the_alarm_goes_out_and_is_acked_over_tls(center, make_button, tls_front):
    btn = make_button(port=tls_front.port, tls=True).start()
    assert btn.wait_feedback("idle", 10), btn.output()[-1500:]
    btn.press()
    [a] = center.wait_uplinks("alarm", 1, timeout=5)
    center.ack(a)
    assert btn.wait_feedback("received", 5)
    assert tls_front.handshakes >= 1


def test_given_a_provisioned_ca_then_the_broker_certificate_is_checked(center, make_button, tls_front, tmp_path):
    good = make_button("good", port=tls_front.port, tls=True, ca_file="ca.pem")
    (good.flash / "ca.pem").write_bytes(tls_front.cert.read_bytes())
    good.start()
    assert good.wait_feedback("idle", 10), good.output()[-1500:]
    good.stop()
    other = TlsFront(tmp_path / "other-ca", "127.0.0.1", 1)   # only used for its unrelated certificate
    try:
        forged = make_button("forged", port=tls_front.port, tls=True, ca_file="ca.pem")
        (forged.flash / "ca.pem").write_bytes(other.cert.read_bytes())
        forged.start()
        assert forged.wait_feedback("no_connection", 5)
        assert not forged.wait_feedback("idle", 3), "a broker the CA did not sign is never trusted"
        assert "mqtt_down" in forged.output()
    finally:
        other.stop()
