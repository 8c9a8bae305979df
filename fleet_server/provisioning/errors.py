"""What can go wrong while provisioning, each with what the technician should check.

A reason and its hint are English templates marked N_() filled with the same parameters:
`PortError(N_("cannot open {port}: {error}"), N_("is the board plugged in?"), port=p, error=e)`.
`reason` and `hint` read in English (logs, str(e)); the command shows them in the reader's
language with fleet_server.i18n.localized()."""
from __future__ import annotations

from fleet_server.i18n import Message


class ProvisioningError(Exception):
    """A refusal or failure with a reason a technician can act on (`hint`: what to check)."""

    def __init__(self, reason: str, hint: str = "", **params):
        reason = reason if isinstance(reason, Message) else Message(reason, **params)
        super().__init__(reason)
        self.reason: Message = reason
        self.hint: Message = hint if isinstance(hint, Message) else Message(hint, **params)

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
