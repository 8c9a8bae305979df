"""A device whose heap is exhausted must not mistake a valid ack for a bad message: the decoder lets
MemoryError through (the firmware retries once memory is back) instead of answering "not JSON"."""
from tests.support.mpy import run_code

SCRIPT = r"""
from protocols import codec_json, strictjson
ack = b'{"v":1,"t":"ack","dev":"btn-1","boot":3,"seq":17,"inc":42,"ts":1795377356}'
real_loads = strictjson.loads

def starved(text):
    raise MemoryError("memory allocation failed, allocating 512 bytes")   # as the heap says it

strictjson.loads = starved        # the parse is where a fragmented heap gives out
try:
    r = codec_json.decode(ack)
    answer = "reject " + r.code if hasattr(r, "code") else "ok"
except MemoryError:
    answer = "MemoryError"
strictjson.loads = real_loads
print("answer", answer)
print("after", codec_json.decode(ack)["seq"])
"""


def test_an_exhausted_heap_raises_memoryerror_instead_of_rejecting_a_valid_ack():
    p = run_code(SCRIPT)
    out = p.stdout.decode()
    assert p.returncode == 0, out + p.stderr.decode()
    assert "answer MemoryError" in out, out
    assert "after 17" in out
