"""The command center's rules, as pure functions over plain values: classification, folding,
lifecycle and clocks, escalation, prank ledger, device supervision. No SQL and no I/O here except
in service.py, the one entry point every input path (MQTT, SMS, console) calls."""
