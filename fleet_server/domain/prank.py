"""Prank ledger: closures as prank or false alarm count against the device (and its site). Past the
threshold the device is flagged for the technician; its alarms still arrive, marked."""
from __future__ import annotations

COUNTED = ("prank", "false_alarm")


def counts_against_device(closure: str) -> bool:
    return closure in COUNTED


def flagged(count: int, threshold: int) -> bool:
    return threshold > 0 and count >= threshold
