# Entry point on every runtime. A device's /main.py is two lines:
#     from firmware.main import main
#     main()
# The port is chosen by the runtime (sys.platform), and on the unix binary by SIAGA_PORT
# ("sim", the default, or "rpi"). The app is the one config.json names ("app": "button", the
# default, or "tracker"); on the unix binary SIAGA_APP overrides it.
import os
import sys
import time
from firmware.app import ota_boot
from firmware.app.config import APPS
from firmware.hal import Reboot, log, provisioned


def _port():
    if sys.platform == "esp32":
        from firmware.ports import esp32 as port
    elif sys.platform == "rp2":
        from firmware.ports import rp2 as port
    else:
        if (os.getenv("SIAGA_PORT") or "sim") == "rpi":
            from firmware.ports import rpi as port
        else:
            from firmware.ports import sim as port
    return port


def app_name(port):
    """-> (app, what chose it)."""
    getenv = getattr(os, "getenv", None)   # only the unix binary has an environment
    name = getenv("SIAGA_APP") if getenv else None
    if name:
        by = "SIAGA_APP"
    else:
        name = provisioned(port.flash()).get("app")
        by = "config.json" if name else "default"
    if name not in APPS:
        # The button runs and its config parser names the bad value on the LED pattern and in the
        # log: a device that does not boot at all tells the technician nothing.
        log("error", "app_unknown", app=str(name)[:24], by=by, effect="running the button")
        return "button", by
    return name, by


def run(board, app_class):
    """Run an app (a firmware.app.session.Session) for ever on a board, restarting it after a
    commanded reboot (a process port) or a failure outside the loop's own guard (e.g. flash
    unreadable), waiting longer each time rather than spinning: a crash loop would flood the log
    and the broker. KeyboardInterrupt is no Exception: it leaves, for main() to end the process."""
    failures = 0
    while True:
        app = app_class(board)
        board.app = app
        try:
            app.start()
            app.run()
        except Reboot:
            failures = 0
            log("info", "soft_reboot")
        except Exception as e:
            ota_boot.failed(board, e)     # a release on trial falls back instead of retrying
            failures += 1
            wait_s = min(60, 2 ** failures)
            log("error", "app_failed", error=repr(e)[:120], restart_in_s=wait_s)
            sys.print_exception(e)
            time.sleep(wait_s)


def main():
    # The release to run: the provisioned one (these files) or an update's slot (ota_boot).
    try:
        ota_boot.boot(_port().flash(), run_app)
    except KeyboardInterrupt:
        # Ctrl-C (SIGINT) at a console: the operator stops the firmware; nothing is lost (the
        # outbox is on flash), so one line says so, without a traceback.
        log("info", "stopped", why="interrupted")


def run_app():
    """Runs the app config.json names on this port's board (the contract of every release,
    firmware/app/ota_boot.py)."""
    port = _port()
    app, by = app_name(port)
    log("info", "app", app=app, by=by)
    if app == "tracker":
        # Imported by name: provisioning ships a device the modules its entry imports, and a
        # button's flash has no room to carry the tracker.
        run(port.board("tracker"), __import__("firmware.app.tracker", None, None, ["Tracker"]).Tracker)
    else:
        # Imported here, not at the top: a device booting an update's slot runs this module from
        # its provisioned files first (main.py) and the slot's only after; an app imported at the
        # top would keep the provisioned release's whole app in the heap beside the slot's.
        from firmware.app import panic_button
        run(port.board("button"), panic_button.PanicButton)
