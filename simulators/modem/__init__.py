"""A virtual SIM800 / SIM7600 on a pseudo-terminal (simulators.modem.sim_modem.SimModem) and the SMS
network that links several of them (simulators.modem.network.SmsNetwork). See docs/gsm.md."""
from simulators.modem.network import SmsNetwork
from simulators.modem.sim_modem import SimModem

__all__ = ["SimModem", "SmsNetwork"]
