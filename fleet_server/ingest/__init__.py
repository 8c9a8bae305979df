"""MQTT ingest: the fleet server's broker link (paho-mqtt 2.x), decoding through protocols/ only,
identity checks, acks after commit, device feedback, and the periodic supervision."""
from fleet_server.ingest.mqtt_link import MqttIngest

__all__ = ["MqttIngest"]
