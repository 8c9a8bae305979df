"""Property: whatever the interleaving, duplication and reordering of a set of alarms (by MQTT
and SMS), each (device_id, boot, seq) is stored once and belongs to exactly one incident, and
folding groups them as specified. Runs on a real SQLite file (one database per test, fresh device
ids per example). Each example does real transactions, so the example count is set here rather
than by the 2,000-example codec profile."""
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from fleet_server.domain.service import IncidentService, Rules
from fleet_server.storage import incidents as incident_repo
from fleet_server.storage.db import Database
from fleet_server.storage.repositories import SqlIncidentStore
from tests.server.conftest import T0, alarm

WINDOW = 300
_example = itertools.count()

# Per device: a list of press clusters, each a list of (boot, seq) keys. Clusters of one device are
# 10 windows apart; presses inside a cluster lie within half a window.
cluster = st.lists(st.integers(0, WINDOW // 2), min_size=1, max_size=3)
device_plan = st.lists(cluster, min_size=1, max_size=3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(device_plan, min_size=1, max_size=3), data=st.data())
def test_given_any_interleaving_of_duplicated_alarms_then_one_stored_alarm_and_one_incident_per_key(tmp_path, plan, data):
    db = _db(tmp_path)
    svc = IncidentService(SqlIncidentStore(db), Rules(fold_radius_m=150, fold_window_s=WINDOW))
    n = next(_example)
    t0 = T0 + n * 1000 * WINDOW  # examples share the database: each lives in its own stretch of time
    alarms, expected_groups = [], {}
    for d, clusters in enumerate(plan):
        dev = f"p{n}-{d}"
        # Devices 1.1 km apart: only a device's own presses fold together.
        svc.register_device(dev, "button", "tech", lat_udeg=-6_900_000 - 10_000 * d, lon_udeg=107_600_000)
        seq = 0
        for c, offsets in enumerate(clusters):
            for off in offsets:
                seq += 1
                a = alarm(dev, seq, ts=t0 + c * 10 * WINDOW + off, boot=7)
                alarms.append(a)
                expected_groups[(dev, 7, seq)] = (dev, c)
    copies = data.draw(st.lists(st.integers(1, 3), min_size=len(alarms), max_size=len(alarms)))
    stream = [(a, via) for a, k in zip(alarms, copies) for via in ("mqtt", "sms", "mqtt")[:k]]
    stream = data.draw(st.permutations(stream))
    batched = data.draw(st.booleans())

    seen: dict[tuple, int] = {}
    if batched:  # the ingest under load: several alarms per transaction
        results = svc.ingest_alarms([(a, via, t0) for a, via in stream])
    else:
        results = [svc.ingest_alarm(a, via, t0) for a, via in stream]
    for (a, _via), r in zip(stream, results):
        key = (a["dev"], a["boot"], a["seq"])
        assert seen.setdefault(key, r.incident_id) == r.incident_id  # a duplicate gets the same incident

    with db.read() as s:
        stored = s.execute(text("SELECT device_id, boot, seq FROM alarms WHERE device_id LIKE :p"),
                           {"p": f"p{n}-%"}).all()
        links = s.execute(text("SELECT count(*) FROM incident_alarms ia JOIN alarms a ON a.id = ia.alarm_id "
                               "WHERE a.device_id LIKE :p"), {"p": f"p{n}-%"}).scalar()
    assert sorted(map(tuple, stored)) == sorted(expected_groups)       # each key stored exactly once
    assert links == len(expected_groups)                               # each in exactly one incident
    assert sum(1 for r in results if not r.duplicate_alarm) == len(expected_groups)
    # Folding: keys of one (device, cluster) share an incident; different clusters never do.
    by_group: dict[tuple, set] = {}
    for key, group in expected_groups.items():
        by_group.setdefault(group, set()).add(seen[key])
    assert all(len(ids) == 1 for ids in by_group.values())
    assert len({next(iter(ids)) for ids in by_group.values()}) == len(by_group)
    with db.read() as s:
        for ids in by_group.values():
            inc = incident_repo.get(s, next(iter(ids)))
            members = [k for k, g in expected_groups.items() if seen[k] == inc.id]
            assert inc.alarm_count == len(members) == inc.press_count


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offsets=st.lists(st.tuples(st.integers(0, 3), st.integers(0, WINDOW // 2), st.integers(1, 5)), min_size=1, max_size=10),
       data=st.data())
def test_given_nearby_buttons_pressed_within_the_window_in_any_order_then_one_incident_counts_every_press(tmp_path, offsets, data):
    db = _db(tmp_path)
    svc = IncidentService(SqlIncidentStore(db), Rules(fold_radius_m=150, fold_window_s=WINDOW))
    n = next(_example)
    t0 = T0 + n * 1000 * WINDOW
    devs = []
    for k in range(4):  # four buttons on one square, 30 m apart
        dev = f"q{n}-{k}"
        svc.register_device(dev, "button", "tech", lat_udeg=-6_900_000 - 270 * k, lon_udeg=107_600_000)
        devs.append(dev)
    alarms = [alarm(devs[d], i + 1, ts=t0 + off, presses=p) for i, (d, off, p) in enumerate(offsets)]
    stream = data.draw(st.permutations(alarms + alarms[: len(alarms) // 2]))
    ids = {svc.ingest_alarm(a, "mqtt", t0).incident_id for a in stream}
    assert len(ids) == 1
    with db.read() as s:
        inc = incident_repo.get(s, ids.pop())
    assert inc.press_count == sum(p for _, _, p in offsets) and inc.alarm_count == len(alarms)


_dbs: dict = {}


def _db(tmp_path) -> Database:
    """One migrated SQLite file per test function (examples use fresh device ids)."""
    key = str(tmp_path)
    if key not in _dbs:
        for old in _dbs.values():
            old.dispose()
        _dbs.clear()
        _dbs[key] = Database(f"sqlite:///{tmp_path / 'prop.db'}")
    return _dbs[key]
