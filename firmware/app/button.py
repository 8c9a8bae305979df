# One key's state machine: debounce, deliberate hold, stuck detection. Pure: it is given the raw
# level and the time (time.ticks_ms()) and returns at most one event per update, so it is tested
# under MicroPython without any hardware.
#
# Events: "sos"      the key has been held hold_ms (once per press)
#         "short"    released before hold_ms (a brush: no call)
#         "stuck"    held stuck_ms: the key is jammed or taped down (once per press)
#         "released" released after an sos or stuck
import time

SOS = "sos"
SHORT = "short"
STUCK = "stuck"
RELEASED = "released"


class Key:
    def __init__(self, name, category, hold_ms, debounce_ms, stuck_ms):
        self.name = name
        self.category = category
        self.hold_ms = hold_ms
        self.debounce_ms = debounce_ms
        self.stuck_ms = stuck_ms
        self.level = 0          # debounced level
        self._raw = 0
        self._raw_since = None
        self.pressed_at = None
        self.fired = False
        self.stuck = False

    def update(self, raw, now):
        raw = 1 if raw else 0
        if raw != self._raw:
            self._raw = raw
            self._raw_since = now
        if raw != self.level and time.ticks_diff(now, self._raw_since) >= self.debounce_ms:
            self.level = raw
            if raw:
                # The press began when the contact closed, not when the bounce settled.
                self.pressed_at = self._raw_since
                self.fired = False
                self.stuck = False
                return None
            held_any = self.fired or self.stuck
            self.pressed_at = None
            self.fired = False
            self.stuck = False
            return RELEASED if held_any else SHORT
        if self.level and self.pressed_at is not None:
            held = time.ticks_diff(now, self.pressed_at)
            if not self.fired and held >= self.hold_ms:
                self.fired = True
                return SOS
            if not self.stuck and held >= self.stuck_ms:
                self.stuck = True
                return STUCK
        return None
