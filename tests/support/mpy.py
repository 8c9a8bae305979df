"""The MicroPython runner for tests: the product's own (simulators/micropython.py)."""
from simulators.micropython import MpyProcess, mpy_env, run_code, run_script

__all__ = ["MpyProcess", "mpy_env", "run_code", "run_script"]
