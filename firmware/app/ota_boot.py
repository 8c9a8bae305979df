# Which release a device boots: the one it was provisioned with (the files at the root of its flash)
# or one of two update slots, ota/a and ota/b, each a whole release installed over the air
# (firmware/app/ota.py stages it). One small pointer file, ota/slot.json, says which; it is written
# tmp + rename (firmware/hal/flash.py), so a power cut leaves the old pointer or the new one:
#
#   {"active": "a"|"b"|null, "ver": "1.4.0"|null, "prev": ..., "prev_ver": ..., "trial": bool,
#    "boots": n, "trial_s": s}
#
# A new slot first boots on trial. Each trial boot is counted here before any of its code runs; the
# release falls back to the previous one by itself when it fails at import or start (failed()),
# when it hangs (the watchdog resets the device and the count passes MAX_TRIAL_BOOTS) or when the
# server never acknowledges a heartbeat from it within trial_s (ota.py). Only the server's confirm
# makes a trial permanent. The outcome is kept in ota/last.json for the server until it is told.
#
# The contract every release keeps: firmware.main.run_app() runs the app on this board.
import json
import sys
from firmware.hal import log

POINTER = "ota/slot.json"
DOWNLOAD = "ota/dl.json"       # a download in progress (firmware/app/ota.py)
LAST = "ota/last.json"
SLOTS = ("a", "b")
MAX_TRIAL_BOOTS = 3
_MAX_SWITCHES = 6        # per power-on: a pointer that keeps flipping is a bug, not a reason to spin


class Switch(BaseException):
    """The running release changed the pointer (a staged release, a rollback): boot again.
    Not an Exception, so no app's own error handling swallows it."""


def _load(flash, name):
    raw = flash.read(name)
    if raw is None:
        return None
    try:
        v = json.loads(raw)
        return v if type(v) is dict else None
    except ValueError:
        return None


def pointer(flash):
    p = _load(flash, POINTER) or {}
    if p.get("active") not in SLOTS:
        p = {"active": None, "ver": None, "trial": False}
    return p


def write_pointer(flash, p):
    flash.mkdir("ota")
    flash.write(POINTER, json.dumps(p))


def note(flash, ver, state, why):
    """Keeps an outcome (rolled_back, refused) for the server; ota.py sends it once connected."""
    flash.mkdir("ota")
    flash.write(LAST, json.dumps({"ver": ver, "state": state, "why": why[:80]}))


def version(flash, fw):
    """The release this device runs: its slot's, or the provisioned one's (fw "button-1.0.0")."""
    p = pointer(flash)
    return p["ver"] if p["active"] else fw.split("-")[-1]


def rollback(flash, why):
    p = pointer(flash)
    log("error", "ota_rollback", ver=str(p.get("ver")), why=why, to=str(p.get("prev_ver")))
    note(flash, p.get("ver") or "0.0.0", "rolled_back", why)
    prev = p.get("prev") if p.get("prev") in SLOTS else None
    write_pointer(flash, {"active": prev, "ver": p.get("prev_ver") if prev else None, "trial": False})


def leave(board):
    """The board's resources free for the next release's board (where a port holds any)."""
    close = getattr(board, "close", None)
    if close is not None:
        close()
    raise Switch()


def failed(board, error):
    """Called where an app gives up on a start (its restart loop): on trial, that is the release's
    fault, so fall back at once instead of retrying it."""
    if pointer(board.flash).get("trial"):
        rollback(board.flash, "start_failed " + repr(error)[:60])
        leave(board)


def _choose(flash):
    p = pointer(flash)
    if p["active"] and p.get("trial"):
        p["boots"] = p.get("boots", 0) + 1
        if p["boots"] > MAX_TRIAL_BOOTS:
            rollback(flash, "trial_boots %d without the server's confirm" % (p["boots"] - 1))
            return pointer(flash)
        write_pointer(flash, p)     # counted before any of the release's code runs
    return p


def _purge():
    for name in list(sys.modules):
        if name == "firmware" or name.startswith("firmware.") or name == "protocols" or name.startswith("protocols."):
            del sys.modules[name]


def boot(flash, run_here):
    """Run the release the pointer names; run_here() runs the provisioned one already imported."""
    fresh = True
    root = flash.path("ota") + "/"
    for _ in range(_MAX_SWITCHES):
        p = _choose(flash)
        slot = p["active"]
        try:
            if slot is None and fresh:
                return run_here()
            # Another release's code (or the provisioned one's, again, after a slot's): forget
            # every module already imported and look in its directory first.
            _purge()
            for s in SLOTS:
                if root + s in sys.path:
                    sys.path.remove(root + s)
            if slot is not None:
                sys.path.insert(0, root + slot)
            log("info", "ota_boot", slot=slot or "provisioned", ver=str(p["ver"]), trial=bool(p.get("trial")),
                boots=p.get("boots", 0))
            return __import__("firmware.main", None, None, ["run_app"]).run_app()
        except Exception as e:
            if slot is None or not p.get("trial"):
                raise
            sys.print_exception(e)
            rollback(flash, "import_failed " + repr(e)[:60])
            fresh = False
        except BaseException as e:
            # By name: a release raises its own module's Switch, another class than this one's.
            if type(e).__name__ != "Switch":
                raise
            fresh = False
            if sys.platform in ("esp32", "rp2"):
                import machine
                machine.reset()          # a clean heap for the other release
    log("error", "ota_boot_loop", effect="running the provisioned release")
    write_pointer(flash, {"active": None, "ver": None, "trial": False})
    _purge()
    return __import__("firmware.main", None, None, ["run_app"]).run_app()
