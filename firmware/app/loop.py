# The loop every app runs, once: step, feed the watchdog only after a healthy step, then wait on
# the network up to a tick. A step that raises is logged and counted; after
# FAILED_STEPS_BEFORE_RESET failures in a row the watchdog is starved, so a device stuck in a bug
# resets instead of pretending to be alive. A commanded reboot waits for reboot_at (the command's
# result leaves first). An app subclasses AppLoop and provides _work(now) and _show_error().
import sys
import time
from firmware.app.log import log

FAILED_STEPS_BEFORE_RESET = 20


class Reboot(Exception):
    """Raised by a port's reset() where a process cannot reset itself (the sim); main restarts."""


class AppLoop:
    reboot_at = None
    failed_steps = 0

    def run(self):
        tick = self.cfg["tick_ms"] if self.cfg else 50
        while True:
            if self.step():
                self.b.watchdog.feed()
            self.b.net.wait(tick, self.link.sock if self.link else None)

    def step(self):
        """One pass of the loop. True when it was healthy (the watchdog may be fed)."""
        try:
            if self.cfg_error:
                self._show_error()
                return True
            now = time.ticks_ms()
            self._work(now)
            if self.reboot_at is not None and time.ticks_diff(now, self.reboot_at) >= 0:
                self.link.close()
                log("info", "reboot", why="commanded")
                self.b.reset()
            self.failed_steps = 0
            return True
        except Reboot:
            raise
        except Exception as e:
            # A bug must not freeze the keys; but a loop that keeps failing must let the watchdog
            # reset the device, so it is fed only after healthy steps.
            self.failed_steps += 1
            log("error", "step_failed", error=repr(e)[:120], consecutive=self.failed_steps)
            sys.print_exception(e)
            return self.failed_steps < FAILED_STEPS_BEFORE_RESET

    def _rand(self, n):
        # Jitter for the link's reconnect backoff.
        try:
            import random
            return random.getrandbits(30) % n if n > 0 else 0
        except Exception:
            return time.ticks_ms() % n if n > 0 else 0
