"""What can go wrong while provisioning, each with what the technician should check."""
from __future__ import annotations


class ProvisioningError(Exception):
    """A refusal or failure with a reason a technician can act on (`hint`: what to check)."""

    def __init__(self, reason: str, hint: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.hint = hint

    def __str__(self) -> str:
        return self.reason + (f"\n  check: {self.hint}" if self.hint else "")


class PortError(ProvisioningError):
    """The serial port cannot be opened, does not answer with a REPL, or went away mid-way."""


class ServerError(ProvisioningError):
    """The fleet server refused a request or did not answer."""


class BrokerError(ProvisioningError):
    """The project's Mosquitto could not be made to reload its accounts."""


class NeverOnline(ProvisioningError):
    """The device was written and rebooted but did not announce itself in time."""
