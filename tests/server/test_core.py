"""The alarm path started before the HTTP app (fleet_server/core.py): the incident events of the
alarms it handles are held until the app's listeners are wired, then delivered in order."""
import threading

from fleet_server.core import HeldEvents


def test_given_events_before_release_then_the_listeners_get_them_at_release_in_order_and_later_ones_directly():
    held, got = HeldEvents(), []
    held({"n": 1})
    held({"n": 2})
    held.listeners.append(got.append)
    assert got == []
    assert held.release() == 2
    assert got == [{"n": 1}, {"n": 2}]
    held({"n": 3})
    assert got == [{"n": 1}, {"n": 2}, {"n": 3}] and held.release() == 0


def test_given_a_failing_listener_then_the_others_still_get_every_event():
    held, got = HeldEvents(), []

    def broken(ev):
        raise RuntimeError("listener bug")

    held.listeners += [broken, got.append]
    held({"n": 1})
    held.release()
    held({"n": 2})
    assert got == [{"n": 1}, {"n": 2}]


def test_given_events_emitted_while_releasing_then_each_arrives_once_and_after_the_held_ones():
    held, got = HeldEvents(), []
    for n in range(200):
        held(n)
    started = threading.Event()

    def slow(ev):
        started.set()
        got.append(ev)

    held.listeners.append(slow)
    t = threading.Thread(target=held.release)
    t.start()
    started.wait(5)
    for n in range(200, 400):
        held(n)
    t.join(5)
    assert got == list(range(400))
