"""The project's own Mosquitto: generated config, per-device credentials and ACL, lifecycle."""
from fleet_server.broker.credentials import hash_password, verify_password, new_secret
from fleet_server.broker.mosquitto import SERVER_SESSIONS, BrokerAccount, Mosquitto, TlsListener, session_user

__all__ = ["Mosquitto", "BrokerAccount", "TlsListener", "SERVER_SESSIONS", "session_user",
           "hash_password", "verify_password", "new_secret"]
