# What the citizen sees and hears. Each pattern is an intro played once when it starts and a loop
# played after it; a step is (red, green, buzzer, ms). docs/firmware.md has the same table in words
# for the technician's card; change both together.
PATTERNS = {
    "selftest": ((), ((1, 0, 1, 250), (0, 1, 0, 250), (1, 1, 0, 250), (0, 0, 0, 250))),
    "idle": ((), ((0, 1, 0, 100), (0, 0, 0, 4900))),
    "no_connection": ((), ((1, 0, 0, 200), (0, 0, 0, 1800))),
    "waiting": (((1, 0, 1, 300),), ((1, 0, 0, 250), (0, 0, 0, 250), (1, 0, 0, 250), (0, 0, 0, 250),
                                    (1, 0, 1, 60), (0, 0, 0, 940))),
    "received": (((0, 1, 1, 150), (0, 1, 0, 100), (0, 1, 1, 150)), ((0, 1, 0, 1000),)),
    "dispatched": (((0, 1, 1, 400),), ((0, 1, 0, 150), (0, 0, 0, 150), (0, 1, 0, 150), (0, 0, 0, 1050))),
    "near": (((0, 1, 1, 150), (0, 0, 0, 100), (0, 1, 1, 150)), ((0, 1, 0, 125), (0, 0, 0, 125),
                                                                  (0, 1, 1, 60), (0, 0, 0, 690))),
    "closed": (((0, 1, 1, 800),), ((0, 1, 0, 3000), (0, 0, 0, 3000))),
    "config_error": (((1, 0, 1, 150), (0, 0, 0, 150)) * 3, ((1, 0, 0, 150), (0, 1, 0, 150))),
}
NAMES = tuple(PATTERNS.keys())


class Feedback:
    def __init__(self, leds, buzzer, clock_ms, notify=None):
        self.red = leds.get("red")
        self.green = leds.get("green")
        self.buzzer = buzzer
        self.clock_ms = clock_ms
        self.notify = notify
        self.name = None
        self.shown = []          # every pattern shown, in order (bounded), for the sim's control channel
        self._steps = ()
        self._loop_from = 0
        self._i = 0
        self._until = 0

    def show(self, name):
        if name == self.name:
            return
        intro, loop = PATTERNS[name]
        self.name = name
        self._steps = tuple(intro) + tuple(loop)
        self._loop_from = len(intro)
        self._i = -1
        self._until = self.clock_ms()
        if len(self.shown) >= 32:
            self.shown.pop(0)
        self.shown.append(name)
        if self.notify:
            self.notify(name)
        self.tick()

    def tick(self):
        import time
        now = self.clock_ms()
        if not self._steps or time.ticks_diff(now, self._until) < 0:
            return
        self._i += 1
        if self._i >= len(self._steps):
            self._i = self._loop_from
        r, g, b, ms = self._steps[self._i]
        self._until = time.ticks_add(now, ms)
        if self.red is not None:
            self.red.value(r)
        if self.green is not None:
            self.green.value(g)
        if self.buzzer is not None:
            self.buzzer.value(b)
