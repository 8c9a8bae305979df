"""How a campaign splits its devices into waves, and which steps it accepts."""
import pytest

from fleet_server.releases.campaigns import CampaignError, check_steps, waves


def test_waves_are_cumulative_shares_with_at_least_one_canary():
    ids = [f"btn-{i:04d}" for i in range(1000)]
    w = waves(ids, "1.4.0", [5, 25, 100])
    sizes = [sum(1 for v in w.values() if v == k) for k in range(3)]
    assert sizes == [50, 200, 750] and set(w) == set(ids)
    assert waves(["a", "b", "c"], "1.4.0", [1, 100]) in ({"a": 0, "b": 1, "c": 1}, {"a": 1, "b": 0, "c": 1},
                                                        {"a": 1, "b": 1, "c": 0})
    # The canary is spread by hash, not the first ids, and another version picks another canary.
    canary = {d for d, k in w.items() if k == 0}
    assert canary != set(ids[:50])
    assert canary != {d for d, k in waves(ids, "1.5.0", [5, 25, 100]).items() if k == 0}
    assert w == waves(list(reversed(ids)), "1.4.0", [5, 25, 100])


@pytest.mark.parametrize("steps", [[], [5, 25], [25, 5, 100], [0, 100], [5, 5, 100], [50, 120]])
def test_steps_must_rise_to_100(steps):
    with pytest.raises(CampaignError):
        check_steps(steps)
