"""A MicroPython board on a USB serial port, for provisioning tests: the MicroPython unix binary on
a pseudo-terminal, its working directory playing the board's flash. See device.py."""
from simulators.usbdevice.device import UsbDevice

__all__ = ["UsbDevice"]
