"""The center's browser tests run on the console tests' parts: the real server with the Bandung
station areas, users of each role, panic buttons and unit trackers on the real broker."""
from tests.console.conftest import console, make_button, server, trackers  # noqa: F401  (fixtures)
