# Runs under MicroPython: the watchdog is fed only while the loop is healthy.
import os
from firmware.hal import Board
from firmware.hal.flash import FlashDir
from firmware.app.session import FAILED_STEPS_BEFORE_RESET
from firmware.app.panic_button import PanicButton


class _Out:
    def value(self, v=None):
        return 0


class _BrokenKey:
    def value(self):
        raise OSError(5)   # EIO: the GPIO expander stopped answering


class _Net:
    def up(self):
        return False


class _Board(Board):
    name = "unit"

    def __init__(self, keys):
        self.keys = keys
        self.leds = {"red": _Out(), "green": _Out()}
        self.net = _Net()
        self.clock = None
        self.flash = FlashDir(os.getenv("SIAGA_TEST_FLASH"))
        self.flash.write("config.json", b'{"dev":"btn-1","password":"p","host":"127.0.0.1","lat":1,"lon":2}')


def case_a_loop_that_keeps_failing_stops_feeding_the_watchdog_and_a_healthy_one_feeds_it():
    app = PanicButton(_Board({"sos": _BrokenKey()}))
    app.start()
    healthy = [app.step() for _ in range(FAILED_STEPS_BEFORE_RESET + 5)]
    assert healthy[: FAILED_STEPS_BEFORE_RESET - 1] == [True] * (FAILED_STEPS_BEFORE_RESET - 1), healthy
    assert healthy[FAILED_STEPS_BEFORE_RESET - 1:] == [False] * 6, healthy
    good = PanicButton(_Board({"sos": _Out()}))
    good.start()
    assert all(good.step() for _ in range(10))
