# AT commands (3GPP TS 27.007 / 27.005, SIMCom dialects): the UART the driver is handed (uart),
# response parsing (parse), the modem command driver (modem) and the data links over it (data).
