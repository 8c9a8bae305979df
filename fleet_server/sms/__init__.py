"""The center's SMS side: the gateway modem (gateway.py, read with pyserial through the firmware's own
AT driver), Advanced Mobile Location SMS (aml.py). See docs/gsm.md."""
