# Siaga 112 wire protocol: the one source of truth for topics, message types and codecs.
# Plain Python that runs unchanged under CPython and MicroPython: no typing, dataclasses,
# enum, match or hmac module; integers (never floats) on the wire; fixed key order.
MAJOR = 1
