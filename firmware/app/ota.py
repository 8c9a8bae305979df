# Over-the-air update, the device's side: the server offers a release (protocols/ota.py), the device
# asks for its signed manifest and then, one part at a time over its own MQTT link, only the files
# whose SHA-256 differs from the release it runs (the others are copied on flash). Everything is
# staged into the slot not running (ota/a or ota/b, firmware/app/ota_boot.py) and checked against
# the manifest, whose Ed25519 signature by the center's key (release.pub on flash) is checked
# before anything in it is used; only then the pointer switches, in one rename.
#
# Resumable: the download's state is ota/dl.json plus the staged files themselves (a file being
# fetched is <path>.part, as long as what arrived), so an outage or a power cut costs one part.
# Bounded: step() does one small piece of work (a request, a copy of one chunk, the hash of one
# file) and nothing at all while an alarm is waiting for its ack; a part is written as it arrives.
import gc
import hashlib
import json
import time
from binascii import unhexlify
from protocols import ota as wire, release, topics
from protocols.rejection import Rejection
from firmware.app import ota_boot

STATE = ota_boot.DOWNLOAD
KEY = "release.pub"             # the center's release key, hex, written at provisioning
RETRY_MS = 5000                 # a request unanswered this long is asked again
RETRY_MS_GSM = 15000
COPY_CHUNK = 1024
QUIET_MS = 1000                 # after an alarm left (sent or resent), the link is its alone this long
MAX_BAD_FILES = 3               # a file that keeps arriving wrong ends the download (refused)


def _mpy():
    try:
        import sys
        return sys.implementation._mpy & 0xFF
    except AttributeError:
        return None


def _hash_file(path):
    try:
        f = open(path, "rb")
    except OSError:
        return None, None
    try:
        return release.digest_stream(f)
    finally:
        f.close()


def _size(path):
    try:
        import os
        return os.stat(path)[6]
    except OSError:
        return -1


class Updater:
    def __init__(self, board, link, dev, kind, fw, log, gsm=False):
        self.flash = board.flash
        self.b = board
        self.board = board.name
        self.link = link
        self.dev = dev
        self.kind = kind
        self.log = log
        self.fw = fw
        self.ver = ota_boot.version(self.flash, fw)
        self.topic = topics.ota_down(dev).encode()
        self.up = topics.ota_up(dev)
        self.part_max = wire.PART_MAX_GSM if gsm else wire.PART_MAX
        self.retry_ms = RETRY_MS_GSM if gsm else RETRY_MS
        self.dl = self._load(STATE)       # {"ver","slot","trial_s","phase","bad"} or None
        self.m = None                     # the verified manifest of the download
        self.todo = None                  # its files for this board, in order
        self.i = 0                        # the file being staged
        self.asked = None                 # (path, off, ticks) of the request in flight
        self.p = ota_boot.pointer(self.flash)
        self.trial_until = None
        self.trial_told = False
        self.untold = False               # an outcome on flash (ota_boot.LAST) the server has not had
        self.sent = 0
        self.quiet_until = time.ticks_ms()
        if self.p.get("trial"):
            self.trial_until = time.ticks_add(time.ticks_ms(), int(self.p.get("trial_s", 300)) * 1000)
            log("info", "ota_trial", ver=self.ver, boots=self.p.get("boots", 0), trial_s=self.p.get("trial_s", 300))

    def label(self):
        """What the device says it runs (status, health): kind-version of its release."""
        return self.kind + "-" + self.ver

    # ---- flash helpers ----------------------------------------------------------------------
    def _load(self, name):
        return ota_boot._load(self.flash, name)

    def _save(self):
        self.flash.mkdir("ota")
        self.flash.write(STATE, json.dumps(self.dl))

    def _slot(self, path=""):
        return "ota/" + self.dl["slot"] + ("/" + path if path else "")

    def _mkdirs(self, rel):
        parts = rel.split("/")[:-1]
        for i in range(len(parts)):
            self.flash.mkdir("/".join(parts[:i + 1]))

    def _report(self, ver, state, why=None, selftest=None):
        if self.link.is_up():
            self.link.publish(self.up, wire.report(self.dev, ver, state, self.label(), why, selftest), 1, False)
            return True
        return False

    def _stop(self, state, why):
        """The download ends without a switch (refused): said to the server now or at next contact."""
        self.log("warn", "ota_refused", ver=self.dl["ver"], why=why)
        ota_boot.note(self.flash, self.dl["ver"], state, why)
        self.flash.remove(STATE)
        self.dl = self.m = self.todo = self.asked = None
        self.on_up()

    # ---- from the server --------------------------------------------------------------------
    def on_message(self, payload):
        msg = wire.parse_down(payload)
        if isinstance(msg, Rejection):
            self.log("warn", "ota_rejected", why=msg.code + ": " + msg.reason, size=len(payload), effect="ignored")
            return
        if msg["dev"] != self.dev:
            self.log("warn", "ota_rejected", why="for " + msg["dev"][:32], effect="ignored")
            return
        t = msg["t"]
        if t == "offer":
            self._offer(msg)
        elif t == "part":
            self._part(msg)
        elif t == "confirm":
            self._confirm(msg)
        elif t == "refuse" and self.dl is not None and msg["ver"] == self.dl["ver"]:
            self._stop("refused", "server: " + msg["why"])

    def _offer(self, msg):
        ver = msg["ver"]
        if self.trial_until is not None:
            return self._report(ver, "refused", "on trial of " + self.ver)
        if self.dl is not None:
            if self.dl["ver"] == ver:
                return self._report(ver, "downloading")
            self.log("info", "ota_replaced", was=self.dl["ver"], now=ver)
        current = release.parse_version(self.ver)
        if current is not None and release.parse_version(ver) <= current:
            return self._report(ver, "refused", "not_newer than " + self.ver)
        if self.flash.read(KEY) is None:
            return self._report(ver, "refused", "no_release_key on this device")
        slot = "b" if self.p.get("active") == "a" else "a"
        self.dl = {"ver": ver, "slot": slot, "trial_s": msg.get("trial_s", 300), "phase": "clear", "bad": 0}
        self.m = self.todo = self.asked = None
        self._save()
        self.log("info", "ota_offer", ver=ver, slot=slot)
        self._report(ver, "offered")

    def _part(self, msg):
        a = self.asked
        if self.dl is None or msg["ver"] != self.dl["ver"] or a is None or msg["path"] != a[0] or msg["off"] != a[1]:
            return      # a late answer to an earlier request: the current one is still in flight
        self.asked = None
        data = msg["data"]
        part = self.flash.path(self._slot(a[0])) + ".part"
        f = open(part, "ab")
        try:
            f.write(data)
        finally:
            f.close()
        if a[1] + len(data) >= msg["total"]:
            self._landed(a[0], part)

    def _confirm(self, msg):
        if self.trial_until is None or msg["ver"] != self.ver:
            return
        p = ota_boot.pointer(self.flash)
        p["trial"] = False
        p["boots"] = 0
        ota_boot.write_pointer(self.flash, p)
        self.p = p
        self.trial_until = None
        self.log("info", "ota_confirmed", ver=self.ver)
        self._report(self.ver, "confirmed")

    def on_up(self):
        """The link is (back) up: re-ask what was in flight, say what is pending."""
        self.asked = None
        last = self._load(ota_boot.LAST)
        self.untold = bool(last)
        if last and self._report(last.get("ver", "0.0.0"), last.get("state", "rolled_back"), last.get("why")):
            self.flash.remove(ota_boot.LAST)
            self.untold = False
        self.trial_told = False

    def idle(self):
        """Nothing to download, no trial to watch, nothing to tell: the stack may be let go
        (firmware/app/updates.py)."""
        return self.dl is None and self.trial_until is None and not self.untold

    # ---- the loop ---------------------------------------------------------------------------
    def step(self, now, alarms_sent):
        """One bounded piece of update work. alarms_sent: the app's count of alarm publishes; for
        QUIET_MS after it moves, an SOS waits for its ack and nothing here takes the link."""
        if alarms_sent != self.sent:
            self.sent = alarms_sent
            self.quiet_until = time.ticks_add(now, QUIET_MS)
        quiet = time.ticks_diff(now, self.quiet_until) < 0
        if self.trial_until is not None:
            return self._trial(now, quiet)
        if self.dl is None or quiet or not self.link.is_up():
            return
        if self.link.out:
            return      # the socket has not taken the last bytes yet: the alarm path goes first
        ph = self.dl["phase"]
        if ph == "clear":
            self._clear()
        elif ph == "manifest":
            self._fetch_manifest(now)
        elif ph == "files":
            self._files(now)
        elif ph == "verify":
            self._verify()

    def _trial(self, now, quiet):
        if not self.trial_told and self.link.is_up():
            why = self._selftest()
            self.trial_told = self._report(self.ver, "trial", why, why is None)
            if why:
                self.log("error", "ota_selftest", why=why)
        if time.ticks_diff(now, self.trial_until) >= 0 and not quiet:
            ota_boot.rollback(self.flash, "no_confirm within %ss" % self.p.get("trial_s", 300))
            self._leave()

    def _selftest(self):
        """What a release must manage before it may stay: write and read back its flash."""
        probe = b"ota selftest %d" % time.ticks_ms()
        try:
            self.flash.write("ota/selftest", probe)
            if self.flash.read("ota/selftest") != probe:
                return "flash_readback"
        except OSError as e:
            return "flash " + repr(e)[:40]
        return None

    def _clear(self):
        # A few files per step: the slot may hold a whole older release.
        base = self.flash.path(self._slot())
        n = 0
        stack = [base]
        while stack and n < 4:
            d = stack.pop()
            try:
                import os
                names = os.listdir(d)
            except OSError:
                continue
            for name in names:
                p = d + "/" + name
                try:
                    import os
                    os.remove(p)
                    n += 1
                except OSError:
                    try:
                        os.rmdir(p)
                        n += 1
                    except OSError:
                        stack.append(p)
                if n >= 4:
                    return
        if n == 0:
            self.flash.mkdir("ota")
            self.flash.mkdir(self._slot())
            self.dl["phase"] = "manifest"
            self._save()

    def _ask(self, now, path, off, n):
        if self.asked is not None and time.ticks_diff(now, self.asked[2]) < self.retry_ms:
            return
        if self.asked is not None:
            self.log("info", "ota_retry", path=path, off=off)
        if self.link.publish(self.up, wire.get(self.dev, self.dl["ver"], path, off, n), 0, False) is not None:
            self.asked = (path, off, now)

    def _fetch(self, now, path, size):
        """Ask for the rest of path (size None: unknown, ask for a full part). True once it is staged."""
        dst = self.flash.path(self._slot(path))
        if _size(dst) >= 0:
            return True
        have = _size(dst + ".part")
        if have < 0:
            self._mkdirs(self._slot(path))
            have = 0
        n = self.part_max if size is None else min(self.part_max, size - have)
        if size is not None and n <= 0:
            self._landed(path, dst + ".part")
            return False
        self._ask(now, path, have, n)
        return False

    def _landed(self, path, part):
        """A file has all its bytes: check it against the manifest before it takes its name."""
        import os
        e = self._entry(path)
        if e is not None:
            why = release.file_problem(e, *_hash_file(part))
            if why:
                os.remove(part)
                self.dl["bad"] = self.dl.get("bad", 0) + 1
                self.log("warn", "ota_bad_file", why=why, bad=self.dl["bad"])
                self._save()
                if self.dl["bad"] >= MAX_BAD_FILES:
                    self._stop("refused", why)
                return
        os.rename(part, part[:-5])

    def _entry(self, path):
        if self.todo is None:
            return None
        for e in self.todo:
            if e["path"] == path:
                return e
        return None

    def _fetch_manifest(self, now):
        if not self._fetch(now, release.MANIFEST, None) or not self._fetch(now, release.SIGNATURE, None):
            return
        self._open()

    def _open(self):
        """The staged manifest, opened with the center's key; refuses the download if it fails."""
        body = self.flash.read(self._slot(release.MANIFEST))
        sig = self.flash.read(self._slot(release.SIGNATURE))
        try:
            pub = unhexlify(self.flash.read(KEY).strip())
        except (ValueError, AttributeError):
            pub = b""
        m, why = release.open_manifest(body or b"", sig or b"", pub)
        if why is None and m["version"] != self.dl["ver"]:
            why = "bad_manifest version %s offered %s" % (m["version"], self.dl["ver"])
        if why is None:
            why = release.upgrade_problem(m, self.board, self.ver, _mpy())
        if why is None and m["kind"] != self.kind:
            why = "wrong_kind " + m["kind"]
        if why is not None:
            self._stop("refused", why)
            return False
        self.m = m
        self.todo = release.files_for(m, self.board)
        del body
        gc.collect()
        if self.dl["phase"] == "manifest":
            self.dl["phase"] = "files"
            self._save()
            self.log("info", "ota_manifest", ver=m["version"], files=len(self.todo))
            self._report(self.dl["ver"], "downloading")
        return True

    def _have(self):
        """path -> (dir, sha256) of the files the running release has (its slot's manifest)."""
        if getattr(self, "_known", None) is None:
            self._known = {}
            act = self.p.get("active")
            if act:
                raw = self.flash.read("ota/" + act + "/" + release.MANIFEST)
                try:
                    for e in json.loads(raw)["files"]:
                        self._known[e["path"]] = e["sha256"]
                except (TypeError, ValueError, KeyError):
                    self._known = {}
        return self._known

    def _files(self, now):
        if self.m is None and not self._open():
            return
        while self.i < len(self.todo):
            e = self.todo[self.i]
            dst = self.flash.path(self._slot(e["path"]))
            if _size(dst) >= 0:
                self.i += 1
                continue
            if self._have().get(e["path"]) == e["sha256"]:
                return self._copy(e, dst)
            self._fetch(now, e["path"], e["size"])
            return
        self.dl["phase"] = "verify"
        self.dl["checked"] = 0
        self._save()

    def _copy(self, e, dst):
        # The same bytes are already on flash in the running slot: one chunk per step.
        src = self.flash.path("ota/" + self.p["active"] + "/" + e["path"])
        part = dst + ".part"
        have = _size(part)
        if have < 0:
            self._mkdirs(self._slot(e["path"]))
            have = 0
        f = open(src, "rb")
        try:
            f.seek(have)
            data = f.read(COPY_CHUNK)
        finally:
            f.close()
        f = open(part, "ab")
        try:
            f.write(data)
        finally:
            f.close()
        if have + len(data) >= e["size"] or not data:
            self._landed(e["path"], part)

    def _verify(self):
        """Every staged file hashed again, one per step, then the switch."""
        if self.m is None and not self._open():
            return
        k = self.dl.get("checked", 0)
        if k < len(self.todo):
            e = self.todo[k]
            why = release.file_problem(e, *_hash_file(self.flash.path(self._slot(e["path"]))))
            if why:
                self.flash.remove(self._slot(e["path"]))
                self.dl["phase"] = "files"     # fetch that one again
                self.i = 0
                self.dl["bad"] = self.dl.get("bad", 0) + 1
                self._save()
                self.log("warn", "ota_bad_file", why=why, at="verify")
                if self.dl["bad"] >= MAX_BAD_FILES:
                    self._stop("refused", why)
                return
            self.dl["checked"] = k + 1
            self._save()
            return
        self._switch()

    def _switch(self):
        old = self.p
        ota_boot.write_pointer(self.flash, {
            "active": self.dl["slot"], "ver": self.dl["ver"], "trial": True, "boots": 0,
            "trial_s": self.dl.get("trial_s", 300), "prev": old.get("active"), "prev_ver": old.get("ver")})
        self.flash.remove(STATE)
        self.log("info", "ota_switch", ver=self.dl["ver"], slot=self.dl["slot"], was=self.ver)
        self._report(self.dl["ver"], "switched")
        self._leave()

    def _leave(self):
        self.link.step()           # what is queued on its way, when the socket takes it
        self.link.close()
        ota_boot.leave(self.b)
