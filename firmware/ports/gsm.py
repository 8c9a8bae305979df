# The modem on a port: one place where a UART (plus the modem's reset line, if wired) becomes the
# Modem driver, the board's network when config.json says "link": "gsm" (GsmNet, TcpNet's
# interface), and the SOS-by-SMS sender's modem. Used by the sim and microcontroller ports alike,
# imported only when config.json wants the modem: a Wi-Fi button keeps the driver out of its heap.
from firmware.hal import log
from protocols.at.modem import Modem, AtError
from protocols.at.data import CmqttNet, GsmNet, has_cmqtt


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
    """The board's network over the modem: a SIM7500/SIM7600 (AT+CGMM) is its own MQTT client, TLS
    included (CmqttNet); a SIM800 carries the firmware's MQTT client over TCP (GsmNet, no TLS)."""
    try:
        model = modem.model()
    except AtError as e:
        model = None
        log("warn", "modem_model_unknown", why=str(e)[:60], effect="MQTT over the modem's TCP")
    cls = CmqttNet if has_cmqtt(model) else GsmNet
    log("info", "modem_link", model=model or "?", mqtt="modem" if cls is CmqttNet else "firmware")
    return cls(modem, raw.get("apn") or "internet", log=log, check_every_ms=check_every_ms)


def mcu_modem(name, pins, watchdog):
    """The modem of a microcontroller board (firmware/boards/<board>.py): its UART (UARTS["modem"],
    or the modem_tx/modem_rx pins at the SIMCom default 115200 baud) and its reset and power-key
    lines, opened by open_modem. None, logged, when the board has no modem wired."""
    import machine
    from firmware.ports.mcu import ActiveOutput
    p = pins.PINS
    spec = getattr(pins, "UARTS", {}).get("modem")
    if spec is None and "modem_tx" in p and "modem_rx" in p:
        spec = {"id": 2, "baud": 115200, "tx": p["modem_tx"], "rx": p["modem_rx"]}
    if spec is None:
        log("error", "modem_not_on_board", board=name, effect="no GSM link, no SOS by SMS")
        return None
    uart = machine.UART(spec["id"], baudrate=spec["baud"], tx=spec["tx"], rx=spec["rx"], rxbuf=1024)
    low = getattr(pins, "ACTIVE_LOW", set())
    # ActiveOutput speaks "asserted", whatever the wiring: the driver pulses it to 1.
    reset = ActiveOutput(p["modem_reset"], "modem_reset" in low) if "modem_reset" in p else None
    power = ActiveOutput(p["modem_pwrkey"], "modem_pwrkey" in low) if "modem_pwrkey" in p else None
    return open_modem(uart, watchdog, reset, power)
