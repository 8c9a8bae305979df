# Entry point on every runtime. A device's /main.py is two lines:
#     from firmware.main import main
#     main()
# The port is chosen by the runtime (sys.platform), and on the unix binary by SIAGA_PORT
# ("sim", the default, or "rpi"). The app is the one config.json names ("app": "button", the
# default, or "tracker"); on the unix binary SIAGA_APP overrides it.
import os
import sys
from firmware.app import panic_button
from firmware.app.config import APPS, provisioned
from firmware.app.log import log


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


def main():
    port = _port()
    app, by = app_name(port)
    log("info", "app", app=app, by=by)
    if app == "tracker":
        # Imported by name: provisioning ships a device the modules its entry imports, and a
        # button's flash has no room to carry the tracker.
        tracker = __import__("firmware.app.tracker", None, None, ["run"])
        tracker.run(port.board("tracker"))
    else:
        panic_button.run(port.board("button"))
