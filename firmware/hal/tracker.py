# The vehicle tracker's board interface (firmware/app/tracker.py receives one): a Board with the
# crew's keys and more. Its own module: a button's flash does not carry it.
from firmware.hal import Board


class TrackerBoard(Board):
    """A vehicle tracker's board: a Board whose keys are the crew's ("sos", "accept", "available",
    "enroute", "onscene", "returning", "oos") and leds {"led": out}, plus these."""
    gps: object        # UART-like: read(n) -> bytes available now (at most n) or None, never blocks
    ignition = None    # input: value() -> 1 while the engine runs
