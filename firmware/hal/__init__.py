# Hardware boundary of the panic button. The application (firmware.app) receives one `Board`
# object built by a port (firmware.ports.<esp32|rp2|rpi|sim>) and touches hardware only through it:
#
#   board.keys      {key name: input}   input.value() -> 1 while pressed (raw, not debounced)
#   board.tamper    input or None       value() -> 1 while the enclosure is open
#   board.leds      {"red": out, "green": out}   out.value(0|1)
#   board.buzzer    out or None
#   board.battery   object or None      read_mv() -> millivolts (int) or None
#   board.net       network link        up(), open(host, port), writable(sock), secure(sock, host),
#                                       wait(ms, sock) (sleep until sock readable or ms elapsed)
#   board.clock     clock               time() -> Unix seconds (int; < 2020 means never synced)
#   board.flash     firmware.hal.flash.FlashDir over the device's file system
#   board.watchdog  object              feed()
#   board.reset()                       reboot the device (never returns on hardware)
#   board.name                          port name, logged at boot
#   board.on_pattern(name)              optional: told the feedback pattern now shown (sim reads it)
#   board.modem     firmware.app.modem.Modem or None: opened by the port when config.json wants it
#                   ("link": "gsm" makes board.net a GsmNet over it; SOS by SMS sends through it)
#
# Only firmware/ports/*.py import machine, network or termios.
