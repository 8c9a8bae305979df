# The hardware the AT driver (protocols.at.modem.Modem) is driven over: a byte stream with
# machine.UART's three calls. A device's port hands it a machine.UART (or a pty / termios line on
# the unix binary); the center's gateway hands it pyserial (fleet_server.sms.serial_uart). Nothing
# else of the hardware reaches the driver; the modem's reset and power lines are plain pins with
# value(v).
#
# Implementations may subclass Uart or only match it: the driver calls nothing beyond these three.


class Uart:
    def any(self):
        """Bytes waiting to be read now (an int; 0 for none). Never blocks."""
        raise NotImplementedError

    def read(self, n):
        """At most n bytes that are waiting now (bytes), or None / b"" when there are none. Never
        waits for more to arrive."""
        raise NotImplementedError

    def write(self, data):
        """Send the bytes (the whole of them, or raise OSError); returns the count written."""
        raise NotImplementedError
