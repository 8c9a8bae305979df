# The modem on a port: one place where a UART (plus the modem's reset line, if wired) becomes the
# Modem driver, the board's network when config.json says "link": "gsm" (GsmNet, TcpNet's
# interface), and the SOS-by-SMS sender's modem. Used by the sim and microcontroller ports alike,
# imported only when config.json wants the modem: a Wi-Fi button keeps the driver out of its heap.
from firmware.app.log import log
from firmware.app.modem import Modem, AtError
from firmware.app.modem_data import GsmNet


def open_modem(uart, watchdog, reset_pin=None, power_pin=None):
    """The driver on an opened UART, initialised once. A modem that does not answer at boot is
    logged and kept: GsmNet then reports the link down and the app shows no_connection, rather
    than the port failing and hiding the reason."""
    # Pins here speak "asserted" (the port's ActiveOutput hides the wiring), so the active level is 1.
    modem = Modem(uart, reset_pin=reset_pin, power_pin=power_pin, reset_active=1, log=lambda msg: log("info", "modem", said=str(msg)[:80]))
    modem.waiting = watchdog.feed
    try:
        state = modem.init()
        log("info", "modem_ready", sim=state or "?")
    except AtError as e:
        wired = reset_pin is not None or power_pin is not None
        log("error", "modem_init_failed", why=str(e)[:80], effect="resetting it" if wired else "link down")
        if wired and modem.recover():
            log("info", "modem_ready", after="reset")
    return modem


def data_link(raw, modem, check_every_ms=10000):
    return GsmNet(modem, raw.get("apn") or "internet", log=log, check_every_ms=check_every_ms)
