# One log line per event, "siaga <level> <event> key=value ...", on the console (UART on a device,
# the log file in the simulator). Reasons are words a technician can act on.
import time

_t0 = time.ticks_ms()


def log(level, event, **kv):
    parts = ["siaga", level, event, "t=%d" % time.ticks_diff(time.ticks_ms(), _t0)]
    for k in kv:
        v = kv[k]
        if type(v) is str and (" " in v or not v):
            v = '"' + v.replace('"', "'") + '"'
        parts.append("%s=%s" % (k, v))
    print(" ".join(parts))
