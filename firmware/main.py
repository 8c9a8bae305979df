# Entry point on every runtime. A device's /main.py is two lines:
#     from firmware.main import main
#     main()
# The port is chosen by the runtime (sys.platform), and on the unix binary by SIAGA_PORT
# ("sim", the default, or "rpi").
import sys
import time
from firmware.app.log import log
from firmware.app.panic_button import PanicButton, Reboot


def _port():
    if sys.platform == "esp32":
        from firmware.ports import esp32 as port
    elif sys.platform == "rp2":
        from firmware.ports import rp2 as port
    else:
        import os
        if (os.getenv("SIAGA_PORT") or "sim") == "rpi":
            from firmware.ports import rpi as port
        else:
            from firmware.ports import sim as port
    return port


def main():
    board = _port().board()
    failures = 0
    while True:
        app = PanicButton(board)
        board.app = app
        try:
            app.start()
            app.run()
        except Reboot:
            failures = 0
            log("info", "soft_reboot")
        except KeyboardInterrupt:
            raise
        except Exception as e:
            # Only a failure outside the loop's own guard gets here (e.g. flash unreadable). Wait
            # longer each time rather than spin: a crash loop would flood the log and the broker.
            failures += 1
            log("error", "app_failed", error=repr(e)[:120], restart_in_s=min(60, 2 ** failures))
            sys.print_exception(e)
            time.sleep(min(60, 2 ** failures))
