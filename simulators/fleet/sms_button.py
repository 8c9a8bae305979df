"""A protocol-level button whose data link is down: its SOS goes out as one signed SMS (the
protocol's SMS codec) through the simulated GSM network to the center's number — thousands of them
in one process, for load on the center's SMS gateway. The real firmware's GSM path runs in
tests/gsm; this is the lightweight fidelity, alike on the wire (the same SMS text)."""
from __future__ import annotations

import random
import time

from protocols import codec_sms


class SimSmsButton:
    def __init__(self, device_id: str, key: bytes, number: str, network, center: str, *, lat: int, lon: int,
                 category: str = "unknown", boot: int | None = None, clock=time.time):
        self.device_id = device_id
        self.key = key
        self.number = number
        self.network = network
        self.center = center
        self.lat, self.lon, self.category = lat, lon, category
        self.boot = boot if boot is not None else random.randint(1, 1_000_000)
        self.seq = 0
        self.clock = clock
        self.sent: list[tuple[int, int]] = []

    def press(self, category: str | None = None, trig: str = "button") -> tuple[int, int]:
        self.seq += 1
        alarm = {"v": 1, "t": "alarm", "dev": self.device_id, "boot": self.boot, "seq": self.seq,
                 "ts": int(self.clock()), "cat": category or self.category, "trig": trig, "presses": 1,
                 "lat": self.lat, "lon": self.lon, "src": "fixed", "acc": 5, "age": None}
        parts = self.network.send_from(self.number, self.center, codec_sms.encode_alarm(alarm, self.key))
        assert parts == 1, "an SOS is one SMS"
        self.sent.append((self.boot, self.seq))
        return self.boot, self.seq
