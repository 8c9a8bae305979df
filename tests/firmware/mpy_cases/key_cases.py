# Runs under MicroPython (tests/firmware/test_units_on_micropython.py runs each case_*).
# The key state machine is fed explicit times, so every case is exact and instant.
from firmware.app.button import Key, SOS, SHORT, STUCK, RELEASED


def _key():
    return Key("sos", "medical", hold_ms=1500, debounce_ms=30, stuck_ms=180000)


def _feed(key, samples):
    """samples: [(t_ms, raw)] -> [(t_ms, event)] for every sample with an event; sampled every 10 ms."""
    events = []
    level = 0
    i = 0
    t = 0
    end = samples[-1][0]
    while t <= end:
        while i < len(samples) and samples[i][0] <= t:
            level = samples[i][1]
            i += 1
        ev = key.update(level, t)
        if ev is not None:
            events.append((t, ev))
        t += 10
    return events


def case_a_hold_fires_one_sos_at_hold_ms_counted_from_first_contact():
    ev = _feed(_key(), [(0, 0), (100, 1), (5000, 1), (5100, 0), (5300, 0)])
    assert ev == [(1600, SOS), (5130, RELEASED)], ev


def case_a_short_press_is_a_brush_not_a_call():
    ev = _feed(_key(), [(0, 0), (100, 1), (1400, 0), (2000, 0)])
    assert ev == [(1430, SHORT)], ev


def case_contact_chatter_shorter_than_debounce_is_ignored():
    samples = [(0, 0)]
    for n in range(20):           # 400 ms of 10 ms chatter
        samples.append((100 + 20 * n, 1))
        samples.append((110 + 20 * n, 0))
    samples.append((3000, 0))
    assert _feed(_key(), samples) == []


def case_bouncy_press_then_clean_hold_fires_once():
    ev = _feed(_key(), [(0, 0), (100, 1), (110, 0), (120, 1), (2000, 1), (2100, 0), (2300, 0)])
    assert [e for _t, e in ev] == [SOS, RELEASED], ev


def case_a_key_held_for_minutes_fires_sos_then_stuck_once_never_more():
    ev = _feed(_key(), [(0, 1), (600000, 1), (600100, 0), (600300, 0)])
    assert [e for _t, e in ev] == [SOS, STUCK, RELEASED], ev
    assert ev[1][0] == 180000


def case_each_new_press_fires_again():
    ev = _feed(_key(), [(0, 0), (100, 1), (1700, 0), (2000, 1), (3600, 0), (4000, 0)])
    assert [e for _t, e in ev] == [SOS, RELEASED, SOS, RELEASED], ev


def case_tick_counter_wraparound_does_not_fire_early_or_late():
    import time
    k = _key()
    start = time.ticks_add(0, -700)   # 700 ms before the tick counter wraps
    for ms in range(0, 3000, 10):
        ev = k.update(1, time.ticks_add(start, ms))
        if ev is not None:
            assert ev == SOS and ms == 1500, (ev, ms)
            return
    raise AssertionError("no SOS across the wrap")
