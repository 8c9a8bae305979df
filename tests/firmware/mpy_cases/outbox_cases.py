# Runs under MicroPython with SIAGA_TEST_FLASH set to an empty directory (one per case).
import os
from firmware.hal.flash import FlashDir
from firmware.app.outbox import Outbox, SEQ_BLOCK

LOG = []


def _log(level, event, **kv):
    LOG.append((level, event))


def _flash():
    return FlashDir(os.getenv("SIAGA_TEST_FLASH"))


def _alarm(boot, seq, presses=1):
    return {"v": 1, "t": "alarm", "dev": "btn-1", "boot": boot, "seq": seq, "ts": 1790000000, "cat": "fire",
            "trig": "button", "presses": presses, "lat": -6902000, "lon": 107622000, "src": "fixed",
            "acc": 10, "age": None}


def _power_on():
    ob = Outbox(_flash(), _log)
    ob.start()
    return ob


def case_a_record_survives_a_reboot_and_the_boot_counter_moves_on():
    ob = _power_on()
    assert ob.boot == 1
    s = ob.next_seq()
    ob.put(_alarm(ob.boot, s))
    ob2 = _power_on()
    assert ob2.boot == 2
    assert ob2.pending() == [(1, s)]
    assert ob2.message((1, s))["cat"] == "fire"


def case_seq_is_never_reused_across_reboots_even_across_reserved_blocks():
    used = set()
    for boot in range(5):
        ob = _power_on()
        for _ in range(SEQ_BLOCK + 7 if boot % 2 else 3):
            s = ob.next_seq()
            assert s not in used, s
            used.add(s)
    assert len(used) == 3 * 3 + 2 * (SEQ_BLOCK + 7)


def case_a_cut_write_leaves_the_old_record_and_counters_intact():
    ob = _power_on()
    s = ob.next_seq()
    ob.put(_alarm(ob.boot, s))
    f = _flash()
    # Power cut while folding a press into the record and while reserving seqs: the .tmp files are
    # half written, the renames never happened.
    good = f.read("outbox/1-%d" % s)
    with open(f.path("outbox/1-%d.tmp" % s), "wb") as fh:
        fh.write(good[: len(good) // 2])
    with open(f.path("counters.json.tmp"), "wb") as fh:
        fh.write(b'{"boot": 9')
    ob2 = _power_on()
    assert ob2.pending() == [(1, s)]
    assert ob2.message((1, s))["presses"] == 1
    assert ob2.boot == 2 and ob2.next_seq() > s
    assert "outbox" in f.names("") and not [n for n in f.names("outbox") if n.endswith(".tmp")]
    assert ("warn", "flash_cut_write") in LOG


def case_a_damaged_record_is_set_aside_and_the_others_still_resend():
    ob = _power_on()
    a, b = ob.next_seq(), ob.next_seq()
    ob.put(_alarm(1, a))
    ob.put(_alarm(1, b))
    with open(_flash().path("outbox/1-%d" % b), "wb") as fh:
        fh.write(b'{"v":1,"t":"ala')
    ob2 = _power_on()
    assert ob2.pending() == [(1, a)]
    assert ("error", "outbox_record_bad") in LOG


def case_an_ack_for_an_unknown_seq_changes_nothing():
    ob = _power_on()
    s = ob.next_seq()
    ob.put(_alarm(ob.boot, s))
    assert ob.ack(ob.boot, s + 1) is False
    assert ob.ack(ob.boot + 1, s) is False
    assert ob.pending() == [(1, s)]
    assert ob.ack(ob.boot, s) is True
    assert ob.pending() == [] and ob.ack(ob.boot, s) is False
    assert _power_on().pending() == []


def case_folding_a_press_rewrites_the_same_record():
    ob = _power_on()
    s = ob.next_seq()
    ob.put(_alarm(ob.boot, s))
    ob.put(_alarm(ob.boot, s, presses=4))
    assert ob.pending() == [(1, s)]
    assert _power_on().message((1, s))["presses"] == 4


def case_a_corrupt_counters_file_never_goes_below_what_the_outbox_proves():
    ob = _power_on()
    for _ in range(3):
        ob.next_seq()
    s = ob.next_seq()
    ob.put(_alarm(ob.boot, s))
    with open(_flash().path("counters.json"), "wb") as fh:
        fh.write(b"\x00\x00garbage")
    ob2 = _power_on()
    assert ob2.boot == 2 and ob2.next_seq() > s
    assert ("error", "counters_corrupt") in LOG


class _FullFlash(FlashDir):
    def write(self, name, data):
        raise OSError(28)   # ENOSPC


def case_when_the_flash_refuses_writes_the_alarm_is_still_kept_in_ram_until_acked():
    ob = Outbox(_FullFlash(os.getenv("SIAGA_TEST_FLASH")), _log)
    ob.start()
    s = ob.next_seq()
    data = ob.put(_alarm(ob.boot, s))
    assert ob.pending() == [(ob.boot, s)] and ob.read((ob.boot, s)) == data
    assert ("error", "flash_write_failed") in LOG
    assert ob.ack(ob.boot, s) and ob.pending() == [] and ob.read((ob.boot, s)) is None
