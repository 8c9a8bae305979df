"""The command center's rules, as pure functions over plain values: classification, folding,
lifecycle and clocks, escalation, prank ledger, device supervision, units and dispatch. No SQL,
no network and no database session here: service.py, the one entry point every input path (MQTT,
SMS, console) calls, reaches persistence only through the ports of repositories.py. The only files
read are reference data: the station areas (jurisdiction.py) and the CAP schema (cap.py)."""
