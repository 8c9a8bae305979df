"""Technician provisioning over USB serial: register a device with the fleet server, give it its
own broker credentials, write its config and firmware over the MicroPython raw REPL, reboot it and
see it online. `siaga device ...` (cli.py) is the front; provision.py holds the steps and their
journal, so a half-done provisioning is rolled back or resumed, never left half-credentialed."""
