"""The release build fits: the button running the .mpy files of a signed release from its flash
(nothing compiled on the device), with the unix binary's heap capped, acks an alarm storm with a
broker outage, then downloads a whole new release while an SOS is pressed, switches, and has its
trial boot confirmed, with no MemoryError. The cap is the smallest heap measured on this 64-bit
binary (simulators/bench/release_fitness.py: 208 KB) plus a margin for run-to-run variation; the
ESP32's 32-bit figures and the 100 KB target are in docs/ota.md (Device fitness)."""
from __future__ import annotations

from simulators.bench import release_fitness

HEAP_KB = 224


def test_given_the_release_build_in_a_capped_heap_when_alarms_and_a_download_come_then_both_complete(tmp_path):
    key_dir, releases = release_fitness.build_releases(tmp_path)
    r = release_fitness.run(tmp_path / "run", releases, key_dir, HEAP_KB, alarms=6, outages=1, sample_ms=0)
    assert r["completed"], r
    assert r["storm"]["distinct_seen"] >= 6 and r["download"]["sos_mid_download_seen_s"] is not None
    assert r["download"]["sos_while_still_downloading"] and r["trial"]["confirmed"]
    assert r["memory_errors"] == 0
    # The whole release came over the link: every file of 1.2.0 differs from 1.1.0's.
    assert r["download"]["part_bytes_served"] > 80_000
