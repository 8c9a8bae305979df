"""The whole fleet server as a subprocess for end-to-end tests: the product's FleetServer
(fleet_server/process.py) with test settings — a fixed JWT secret, fast supervision — bound to a
test broker.

    srv = FleetServer(tmp_path / "srv", broker).start()
    try:
        httpx.get(srv.base_url + "/api/v1/incidents", headers=srv.auth())
    finally:
        srv.stop()

The `fleet_server` fixture in tests/server/conftest.py wraps it."""
from __future__ import annotations

from pathlib import Path

from fleet_server import process

ADMIN_USER, ADMIN_PASS = "admin", "admin-secret-1"


class FleetServer(process.FleetServer):
    def __init__(self, workdir: Path, broker, database_url: str | None = None, mqtt_user: str = "fleet-server",
                 mqtt_password: str = "server-secret", env: dict | None = None,
                 admin: tuple[str, str] = (ADMIN_USER, ADMIN_PASS)):
        workdir = Path(workdir)
        super().__init__(workdir, broker.host, broker.port, mqtt_user=mqtt_user, mqtt_password=mqtt_password,
                         admin=admin, database_url=database_url, jwt_secret="test-jwt-secret-with-32-bytes-or-more!",
                         env={"SIAGA_SUPERVISE_EVERY_S": "0.5", "SIAGA_LOG_LEVEL": "INFO",
                              "SIAGA_CONFIG": str(workdir / "none.toml"), **(env or {})})
        self.broker = broker
