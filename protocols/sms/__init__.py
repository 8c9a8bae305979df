# SMS: the PDU codec (3GPP TS 23.040 / 23.038) the device's SOS SMS and the center's gateway share.
