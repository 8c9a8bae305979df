# The update stack (firmware/app/ota.py with protocols' ota, release, ed25519 and sha512 code) is
# about 35 KB of heap once imported (docs/ota.md, "Heap"), and a button sits idle for months between
# releases. Updates stands in for it in the apps: it imports the stack only when there is update
# work — a message on the device's ota topic, a download on flash (ota/dl.json), a release on trial,
# an outcome the server has not been told (ota/last.json) — and lets it go again once it has had
# nothing to do for IDLE_MS, so that heap is the alarm path's the rest of the time.
import gc
import sys
import time
from protocols import topics
from firmware.app import ota_boot

MODULES = ("firmware.app.ota", "protocols.ota", "protocols.release", "protocols.ed25519", "protocols.sha512")
IDLE_MS = 5000


def _heap():
    try:
        return gc.mem_free()
    except AttributeError:
        return -1


class Updates:
    def __init__(self, board, link, dev, kind, fw, log, gsm=False):
        self.args = (board, link, dev, kind, fw, log, gsm)
        self.flash = board.flash
        self.log = log
        self.topic = topics.ota_down(dev).encode()
        self.u = None                       # firmware.app.ota.Updater while loaded
        self.idle_since = None
        if self._pending():
            self._load()

    def _pending(self):
        """Work on flash the stack must see: a download to resume, a trial, an outcome to tell."""
        return (self.flash.read(ota_boot.DOWNLOAD) is not None or ota_boot.pointer(self.flash).get("trial")
                or self.flash.read(ota_boot.LAST) is not None)

    def _load(self):
        if self.u is None:
            gc.collect()
            from firmware.app import ota
            self.u = ota.Updater(*self.args)
            gc.collect()
            self.log("info", "ota_stack", state="loaded", heap_free=_heap())
        self.idle_since = None
        return self.u

    def _release(self):
        self.u = None
        for name in MODULES:
            sys.modules.pop(name, None)
            pkg, _, leaf = name.rpartition(".")
            parent = sys.modules.get(pkg)
            if parent is not None and leaf in getattr(parent, "__dict__", ()):
                try:
                    delattr(parent, leaf)
                except AttributeError:
                    pass
        gc.collect()
        self.log("info", "ota_stack", state="released", heap_free=_heap())

    # ---- what the apps call (the Updater's own interface) -----------------------------------
    def on_message(self, payload):
        self._load().on_message(payload)

    def on_up(self):
        if self.u is None and self.flash.read(ota_boot.LAST) is None:
            return
        self._load().on_up()

    def step(self, now, alarms_sent):
        u = self.u
        if u is None:
            return
        u.step(now, alarms_sent)
        if self.u is None:
            return
        if not u.idle():
            self.idle_since = None
        elif self.idle_since is None:
            self.idle_since = now
        elif time.ticks_diff(now, self.idle_since) >= IDLE_MS:
            self._release()
