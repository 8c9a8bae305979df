"""The command center for end-to-end tests: the fleet server as a process on a test broker, with
helpers to register devices and read incidents. The `center` fixture (tests/conftest.py) makes one."""
from fleet_server.broker import hash_password
from fleet_server.process import FleetServer
from simulators.demo import CITY_AREAS
from tests.conftest import SERVER_USER, SERVER_PASS


class Center:
    """The command center for a test: the server process plus helpers to register devices."""

    def __init__(self, broker, workdir, env=None):
        self.broker = broker
        self.server = FleetServer(workdir, broker.host, broker.port, mqtt_user=SERVER_USER, mqtt_password=SERVER_PASS,
                                  env={"SIAGA_JURISDICTION_FILE": str(CITY_AREAS), "SIAGA_SUPERVISE_EVERY_S": "0.5",
                                       **(env or {})})

    def register(self, device_id: str, password: str, kind: str = "button", **fields) -> dict:
        r = self.server.api("POST", "/devices", json={"id": device_id, "kind": kind,
                                                      "broker_password_hash": hash_password(password), **fields})
        assert r.status_code == 201, r.text
        self.broker.add_account(device_id, password)
        self.broker.reload()
        return r.json()

    def incidents(self) -> list[dict]:
        r = self.server.api("GET", "/incidents", params={"limit": 1000})
        assert r.status_code == 200, r.text
        return r.json()

    def incident(self, incident_id: int) -> dict:
        r = self.server.api("GET", f"/incidents/{incident_id}")
        assert r.status_code == 200, r.text
        return r.json()

    def transition(self, incident_id: int, to_state: str) -> dict:
        r = self.server.api("POST", f"/incidents/{incident_id}/transition", json={"to_state": to_state})
        assert r.status_code == 200, r.text
        return r.json()
