"""A simulated public SOS button at protocol level. On the wire it behaves like the firmware: one
alarm per deliberate press with a new (boot, seq), resent until the server's application ack for
exactly that (boot, seq) arrives (a PUBACK clears nothing), and feedback states from commands."""
from __future__ import annotations

import asyncio
import time

from simulators.fleet.device import SimDevice


class SimButton(SimDevice):
    kind = "button"

    def __init__(self, device_id: str, password: str, host: str, port: int, *, lat: int, lon: int,
                 category: str = "unknown", resend_s: float = 2.0, active_s: float = 600.0, **kw):
        super().__init__(device_id, password, host, port, **kw)
        self.lat, self.lon, self.category = lat, lon, category
        self.resend_s = resend_s
        self.active_s = active_s   # as the firmware: presses this close to the last alarm fold into it
        self.folds: dict[tuple[str, str], dict] = {}
        self.outbox: dict[tuple[int, int], dict] = {}
        self.sent_at: dict[tuple[int, int], float] = {}
        self.ack_latency_s: list[float] = []
        self.acked: set[tuple[int, int]] = set()
        self.incident_of: dict[tuple[int, int], int] = {}
        self.feedback = "idle"
        self._resender: asyncio.Task | None = None

    def press(self, category: str | None = None, trig: str = "button", presses: int = 1) -> tuple[int, int]:
        """One deliberate press. Like the firmware (firmware/app/panic_button.py), a press of the same
        trigger and category within active_s of the last one adds to that alarm: while it is unacked
        the resent message carries the new press count; once acked the count stays on the device."""
        cat = category or self.category
        now = time.monotonic()
        fold = self.folds.get((trig, cat))
        if fold is not None and self.active_s > 0 and (fold["key"] in self.outbox or now - fold["last"] < self.active_s):
            fold["presses"] += presses
            fold["last"] = now
            if fold["key"] in self.outbox:
                self.outbox[fold["key"]]["presses"] = min(fold["presses"], 100000)
            return fold["key"]
        alarm = dict(self.header("alarm"), ts=self.now(), cat=cat, trig=trig,
                     presses=presses, lat=self.lat, lon=self.lon, src="fixed", acc=5, age=None)
        key = (alarm["boot"], alarm["seq"])
        self.folds[(trig, cat)] = {"key": key, "last": now, "presses": presses}
        self.outbox[key] = alarm
        self.sent_at[key] = now
        self.feedback = "waiting"
        if self.client.is_connected:
            self.publish(alarm)
        if self._resender is None:
            self._resender = asyncio.create_task(self._resend())
            self._tasks.append(self._resender)
        return key

    async def _resend(self) -> None:
        while True:
            await asyncio.sleep(self.resend_s)
            if self.client.is_connected:
                for alarm in list(self.outbox.values()):
                    self.publish(alarm)

    def jam(self, stuck: bool) -> None:
        """A key held down past stuck_s (or released again): like the firmware, no further alarm —
        the hold already raised one — only the health flag, sent at once."""
        self.stuck = stuck
        self.send_health()

    def on_online(self) -> None:
        for alarm in list(self.outbox.values()):
            self.publish(alarm)

    def on_ack(self, msg: dict) -> None:
        key = (msg["boot"], msg["seq"])
        if key not in self.outbox:
            return  # an ack for an unknown seq changes nothing
        del self.outbox[key]
        self.acked.add(key)
        self.incident_of[key] = msg["inc"]
        self.ack_latency_s.append(time.monotonic() - self.sent_at[key])
        if self.feedback in ("waiting", "idle"):
            self.feedback = "received"

    def on_cmd(self, msg: dict) -> None:
        super().on_cmd(msg)
        if msg["op"] == "feedback" and msg["exp"] >= self.now():
            self.feedback = msg["state"]
