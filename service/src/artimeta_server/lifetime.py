"""Child processes that cannot outlive the process that started them.

Linux delivers a chosen signal to a process when its parent dies (PR_SET_PDEATHSIG), however the
parent dies, SIGKILL included. It is set in the child between fork and exec, after any change of
user (a change of credentials clears it), and holds across exec of a binary that is not setuid.
"Parent" is the thread that forked: start such children from a thread that lives as long as they
should (the main thread, here). Elsewhere than Linux nothing is set.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1
# Loaded once in the parent: the child between fork and exec only calls into it.
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True) if sys.platform == "linux" else None


def set_parent_death_signal(signum: int) -> bool:
    """This process gets `signum` when its parent dies; False where that is not supported."""
    if _libc is None:
        return False
    return int(_libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0)) == 0


def die_with_parent(signum: int = signal.SIGKILL) -> Callable[[], None]:
    """A subprocess.Popen preexec_fn: the child gets `signum` when this process dies."""
    parent = os.getpid()

    def preexec() -> None:
        set_parent_death_signal(signum)
        if os.getppid() != parent:  # the parent died before the line above: nobody would signal
            os._exit(1)

    return preexec
