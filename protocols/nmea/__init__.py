# NMEA 0183, as a GPS receiver speaks it on its UART: sentences, the reader and the epoch assembler.
