"""Every message the server sends is built by protocols.downlink, and every builder has golden
vectors (protocols/vectors/downlink.json) that both runtimes reproduce byte for byte (the runner
checks them in tests/protocol/test_vectors.py)."""
import json

from protocols import codec_json, downlink
from tests.support.paths import REPO

VECTORS = json.loads((REPO / "protocols" / "vectors" / "downlink.json").read_text())["vectors"]


def test_every_builder_has_golden_vectors_and_every_vector_names_a_builder():
    public = {n for n, f in vars(downlink).items() if callable(f) and not n.startswith("_") and n != "feedback_id"}
    assert public == set(downlink.BUILDERS)
    assert {v["builder"] for v in VECTORS} == set(downlink.BUILDERS)


def test_the_builders_give_the_golden_bytes_on_cpython():
    for v in VECTORS:
        assert getattr(downlink, v["builder"])(*v["args"]).decode() == v["bytes"], v["name"]


def test_one_feedback_id_per_incident_and_state_whoever_sends_it():
    a = codec_json.decode(downlink.feedback("btn-a", 42, "near", 1795377360, 600))
    b = codec_json.decode(downlink.feedback("btn-b", 42, "near", 1795377999, 60))
    assert a["id"] == b["id"] == downlink.feedback_id(42, "near") == "fb42-near"
    assert downlink.feedback_id(42, "closed") != a["id"]


def test_no_server_or_simulator_code_builds_a_downlink_message_by_hand():
    import fleet_server
    import simulators
    hand_built = []
    for pkg in (fleet_server, simulators):
        root = REPO / pkg.__name__
        for path in root.rglob("*.py"):
            text = path.read_text()
            if '"t": "ack"' in text or '"t": "cmd"' in text or '"t": "server"' in text:
                hand_built.append(str(path.relative_to(REPO)))
    assert hand_built == [], "build these with protocols.downlink"
