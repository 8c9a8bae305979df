# Runs under MicroPython: the link's reconnect schedule (no sockets: the network is "down") and its
# handling of the SUBACK (a scripted socket: the bytes a broker sends).
import time
from firmware.app import mqtt_wire as w
from firmware.app.mqtt_link import MqttLink


class _NoNet:
    def up(self):
        return False


def _link(rand):
    opts = {"client_id": "btn-1", "host": "127.0.0.1", "port": 1, "keepalive_s": 30, "subscriptions": [],
            "backoff_min_ms": 500, "backoff_max_ms": 8000, "connect_timeout_ms": 1000}
    return MqttLink(_NoNet(), opts, lambda *a, **k: None, rand)


def _delays(link, n):
    out = []
    for _ in range(n):
        before = time.ticks_ms()
        link._drop("test", quiet=True)
        out.append(time.ticks_diff(link.next_try, before))
    return out


def case_backoff_doubles_from_the_minimum_and_stops_at_the_cap():
    most = _delays(_link(lambda n: n - 1), 8)     # jitter at its top: the cap itself
    assert [d // 10 * 10 for d in most] == [500, 1000, 2000, 4000, 8000, 8000, 8000, 8000], most


def case_jitter_keeps_at_least_half_the_cap_so_a_fleet_spreads_out_but_never_spins():
    least = _delays(_link(lambda n: 0), 6)        # jitter at its bottom: half the cap
    assert [d // 10 * 10 for d in least] == [250, 500, 1000, 2000, 4000, 4000], least


class _Sock:
    """The broker's end of the socket, scripted: what the link sent, what it will read."""

    def __init__(self):
        self.sent = bytearray()
        self.rx = []

    def send(self, data):
        self.sent.extend(data)
        return len(data)

    def recv(self, n):
        if not self.rx:
            raise OSError(11)
        return self.rx.pop(0)

    def close(self):
        pass


class _Net:
    def __init__(self):
        self.sock = None

    def up(self):
        return True

    def open(self, host, port):
        self.sock = _Sock()
        return self.sock

    def writable(self, sock):
        return True


SUBS = [("siaga/v1/dev/btn-1/down/#", 1), ("siaga/v1/server/status", 1)]


def _live(timeout_ms=1000):
    """A link past its CONNACK: (link, socket, log lines, SUBSCRIBE packet id)."""
    logged = []
    opts = {"client_id": "btn-1", "host": "127.0.0.1", "port": 1, "tls": False, "keepalive_s": 30,
            "subscriptions": SUBS, "backoff_min_ms": 500, "backoff_max_ms": 8000,
            "connect_timeout_ms": timeout_ms}
    link = MqttLink(_Net(), opts, lambda level, event, **kw: logged.append((event, kw)), lambda n: n - 1)
    link.attempt = 3                    # three failed connects before this one
    for _ in range(3):                  # TCP open, then CONNECT queued and sent
        link.step()
    sock = link.net.sock
    assert sock.sent[0] == 0x10, sock.sent
    sock.sent = bytearray()
    sock.rx.append(b"\x20\x02\x00\x00")  # CONNACK, accepted
    link.step()
    assert link.is_up()
    p = w.Parser()
    p.feed(sock.sent)
    sub = [body for kind, _f, body in p.packets() if kind == w.SUBSCRIBE]
    assert len(sub) == 1, sock.sent
    return link, sock, logged, (sub[0][0] << 8) | sub[0][1]


def _suback(pid, *codes):
    return bytes((w.SUBACK << 4, 2 + len(codes), pid >> 8, pid & 0xFF)) + bytes(codes)


def case_a_granted_suback_resets_the_backoff():
    link, sock, logged, pid = _live()
    sock.rx.append(_suback(pid, 1, 1))
    link.step()
    assert link.is_up() and link.sub_pid == 0 and link.attempt == 0, logged
    assert _delays(link, 1)[0] // 10 * 10 == 500


def case_a_connack_alone_does_not_reset_the_backoff_but_lets_an_sos_out_at_once():
    link, sock, logged, pid = _live()
    assert link.attempt == 3
    assert link.publish("siaga/v1/dev/btn-1/up/alarm", b"{}", 1) is not None, "publishing waits for no SUBACK"


def case_a_refused_subscription_drops_the_link_naming_the_filter_and_backs_off_further():
    link, sock, logged, pid = _live()
    sock.rx.append(_suback(pid, 0x80, 1))   # the downlink refused, the server status granted
    link.step()
    assert not link.is_up() and link.sock is None
    downs = [kw for event, kw in logged if event == "mqtt_down"]
    assert downs[-1]["why"] == "broker refused subscription siaga/v1/dev/btn-1/down/#", downs
    assert downs[-1]["retry_ms"] // 10 * 10 == 4000, "attempt 3's cap: the refusal does not restart the backoff"
    assert link.attempt == 4


def case_every_refused_filter_is_named():
    link, sock, logged, pid = _live()
    sock.rx.append(_suback(pid, 0x80, 0x80))
    link.step()
    downs = [kw["why"] for event, kw in logged if event == "mqtt_down"]
    assert downs == ["broker refused subscription siaga/v1/dev/btn-1/down/# siaga/v1/server/status"], downs


def case_no_suback_within_the_connect_timeout_drops_the_link():
    link, sock, logged, pid = _live(timeout_ms=200)
    time.sleep_ms(100)
    link.step()
    assert link.is_up(), "still within the timeout"
    time.sleep_ms(150)
    link.step()
    assert not link.is_up()
    assert [kw["why"] for event, kw in logged if event == "mqtt_down"] == ["no SUBACK in time"], logged


def case_a_suback_that_answers_another_subscribe_is_a_protocol_error():
    for other_pid, codes in ((False, (1, 1, 1)), (False, (1,)), (True, (1, 1))):
        link, sock, logged, pid = _live()
        sock.rx.append(_suback(pid + 1 if other_pid else pid, *codes))
        link.step()
        assert not link.is_up(), codes
        why = [kw["why"] for event, kw in logged if event == "mqtt_down"]
        assert why == ["protocol error: SUBACK does not answer the SUBSCRIBE"], (codes, why)
