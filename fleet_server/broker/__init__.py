"""The project's own Mosquitto: generated config, per-device credentials and ACL, lifecycle."""
from fleet_server.broker.credentials import hash_password, verify_password, new_secret
from fleet_server.broker.mosquitto import Mosquitto, BrokerAccount

__all__ = ["Mosquitto", "BrokerAccount", "hash_password", "verify_password", "new_secret"]
