"""Fault injection for the reliability tests: kill the process at a named point.

``TRANSLATOR_FAILPOINT=checkpoint-write:2`` sends SIGKILL to this process the 2nd time it
reaches ``failpoint("checkpoint-write")``. Unset (always, outside tests) it does nothing.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_reached: Counter = Counter()


def failpoint(name: str) -> None:
    wanted = os.environ.get("TRANSLATOR_FAILPOINT")
    if not wanted:
        return
    point, _, count = wanted.partition(":")
    if point != name:
        return
    _reached[name] += 1
    if _reached[name] == int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
