"""GPS receivers for tests and simulators: a gpsd capture replayed, or a drive along a route,
written at real or accelerated speed onto a pseudo-terminal that firmware reads as its UART.

    from simulators.gps import GpsPty, CaptureSource, RouteSource, NoFixSource
    with GpsPty(CaptureSource(path), speed=20) as gps:   # gps.path is the slave, e.g. /dev/pts/7
        ...                                                # open it with pyserial or termios
"""
from simulators.gps.sources import CaptureSource, NoFixSource, RouteSource, Epoch
from simulators.gps.replay import GpsPty

__all__ = ["GpsPty", "CaptureSource", "RouteSource", "NoFixSource", "Epoch"]
