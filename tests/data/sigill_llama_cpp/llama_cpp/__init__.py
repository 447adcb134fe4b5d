"""Stands in for a llama.cpp build that uses CPU instructions this machine does not run.

It is the installed llama-cpp-python itself, except that evaluating tokens kills the process
with SIGILL, as such a build does on the first token of a Q4_K model. A test puts this folder
first on PYTHONPATH; the assistant's model process then imports this package, loads the model
for real, and dies by a real signal when asked for an answer.
"""

import os
import signal
import sys

_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
del sys.modules[__name__]
import llama_cpp as _installed  # noqa: E402 - the installed package, which replaces this one


def _illegal_instruction(*_args, **_kwargs):
    os.kill(os.getpid(), signal.SIGILL)


_installed.Llama.eval = _illegal_instruction
