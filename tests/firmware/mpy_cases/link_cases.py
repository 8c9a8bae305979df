# Runs under MicroPython: the link's reconnect schedule (no sockets: the network is "down").
import time
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


def case_a_successful_connack_resets_the_backoff():
    link = _link(lambda n: n - 1)
    _delays(link, 5)
    link.attempt = 0   # what CONNACK does
    assert _delays(link, 1)[0] // 10 * 10 == 500


def case_publish_while_down_says_not_now_instead_of_raising():
    assert _link(lambda n: 0).publish("a/b", b"x") is None
