"""Run simulated modems for a demo or by hand: `python -m simulators.modem [--dir run/modems]
[--center +622270112112] [--device +62811000001:SIM7600 ...]`. Prints each modem's pty path (a
stable symlink); point the gateway (SIAGA_SMS_PORT) or a device at it. Ctrl-C stops them."""
from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from simulators.modem import SimModem, SmsNetwork


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m simulators.modem")
    ap.add_argument("--dir", default="run/modems", help="where the pty symlinks go")
    ap.add_argument("--center", default="+622270112112", help="the center's number (its modem is a SIM800)")
    ap.add_argument("--device", action="append", default=[], help="NUMBER[:SIM800|SIM7600], repeatable")
    a = ap.parse_args(argv)
    d = Path(a.dir)
    d.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # before anyone can see a path to stop us
    net = SmsNetwork()
    modems = [SimModem(d / "center", a.center, net, model="SIM800").start()]
    for spec in a.device or ["+62811000001:SIM7600"]:
        number, _, model = spec.partition(":")
        modems.append(SimModem(d / number.lstrip("+"), number, net, model=model or "SIM7600").start())
    for m in modems:
        print(f"{m.number} {m.model} {m.port}", flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for m in modems:
            m.stop()


if __name__ == "__main__":
    main()
