# Runs under the MicroPython binary: the real panic-button firmware (firmware.app.panic_button on
# the sim port's board: keys, LEDs, flash outbox, control channel) whose network is GSM — the
# board's net swapped for GsmNet over a simulated SIM800 on a pty — plus SOS by SMS.
#
# The SMS fallback below is the part the button firmware does not have yet: an alarm still in the
# outbox sms_after ms after it was raised goes once as the signed SMS (firmware.app.modem_sos);
# the firmware's own outbox keeps resending it over MQTT until the server's ack. It belongs in
# PanicButton (config sms_after_s); it lives here, in the test, until the firmware takes it in.
# Env: the sim port's (SIAGA_FLASH, SIAGA_CONTROL, SIAGA_KEYS, SIAGA_TAMPER) plus SIAGA_MODEM,
# SIAGA_CENTER, SIAGA_KEY (hex), SIAGA_SMS_AFTER_MS.
import os
import time

from firmware.app.log import log
from firmware.app.modem import Modem
from firmware.app.modem_data import GsmNet
from firmware.app.modem_sos import SmsUplink
from firmware.app.panic_button import PanicButton
from firmware.ports.sim import SimBoard, SimNet
from tests.gsm.mpy_uart import PtyUart


class GsmSimNet(SimNet):
    """The sim board's network, but the MQTT traffic goes through the modem; the control channel
    (key presses from the test) is still served while the loop waits."""

    def __init__(self, board, control, gsm):
        SimNet.__init__(self, board, control)
        self.gsm = gsm

    def up(self):
        return self.gsm.up()

    def open(self, host, port):
        return self.gsm.open(host, port)

    def writable(self, sock):
        return self.gsm.writable(sock)

    def secure(self, sock, host):
        return self.gsm.secure(sock, host)

    def wait(self, ms, sock=None):
        SimNet.wait(self, 5, None)
        self.gsm.wait(max(0, ms - 5), sock)


def main():
    modem = Modem(PtyUart(os.getenv("SIAGA_MODEM")))
    modem.init()
    board = SimBoard()
    board.net.server.close()  # the sim port opened its control socket; ours takes the same port
    board.net = GsmSimNet(board, os.getenv("SIAGA_CONTROL"), GsmNet(modem, "internet", check_every_ms=500))
    sms = SmsUplink(modem, os.getenv("SIAGA_CENTER"), bytes.fromhex(os.getenv("SIAGA_KEY")), log=log)
    sms_after = int(os.getenv("SIAGA_SMS_AFTER_MS"))
    app = PanicButton(board)
    board.app = app
    app.start()
    first_seen = {}
    smsed = set()
    while True:
        if app.step():
            board.watchdog.feed()
        now = time.ticks_ms()
        for key in app.outbox.pending():
            t = first_seen.setdefault(key, now)
            if key not in smsed and time.ticks_diff(now, t) >= sms_after:
                msg = app.outbox.message(key)
                if msg is not None and sms.send_alarm(msg) is not None:
                    smsed.add(key)
                else:
                    first_seen[key] = now  # no network for SMS either: try again later
        board.net.wait(app.cfg["tick_ms"], app.link.sock if app.link else None)


main()
