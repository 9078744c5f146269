"""The server's CPU time by task, for ``bench_e2e.py --loop-profile``.

Loaded into the server by ``PYTHONPATH`` (Python imports ``sitecustomize`` at start-up)
only when ``LOOP_PROFILE`` names an output file. Every task the server's loop makes runs
its coroutine through a wrapper that times each step with the thread's CPU clock and
counts it under a key: the chain of Tsunagi coroutines the task is suspended in (where the
step resumes). SQLAlchemy's greenlet work runs inside those steps, so it is counted with
the task that asked for it — what a sampling profiler cannot attribute. What runs outside
tasks (protocol callbacks: HTTP parsing, WebSocket frames in, the loop itself) is the
thread's CPU time less the tasks', written as ``(outside tasks)``. The garbage
collector's pauses (wall time, within the tasks' steps) are written per generation, with
the longest.

``SIGUSR1`` clears the counts, ``SIGUSR2`` (and the exit) writes them as JSON:
``{key: [cpu_s, steps]}``. The wrapper costs a few microseconds a step: compare shares,
not absolute times, with a run without it.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import gc
import json
import os
import signal
import sys
import time
from collections.abc import Coroutine, Generator
from typing import Any

OUTPUT = os.environ.get("LOOP_PROFILE")
cpu: collections.Counter[str] = collections.Counter()
steps: collections.Counter[str] = collections.Counter()
# Steps whose wall time passed LONG_NS, per key: [count, longest wall ns, longest's CPU ns].
LONG_NS = 5_000_000
long_steps: dict[str, list[int]] = {}
started = [time.thread_time_ns()]
# The garbage collector's pauses per generation: [count, total ns, longest ns].
pauses: dict[int, list[int]] = {0: [0, 0, 0], 1: [0, 0, 0], 2: [0, 0, 0]}
_gc_started = [0]


def _on_gc(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _gc_started[0] = time.perf_counter_ns()
        return
    took = time.perf_counter_ns() - _gc_started[0]
    entry = pauses[info["generation"]]
    entry[0] += 1
    entry[1] += took
    entry[2] = max(entry[2], took)


def _key(coro: Any) -> str:
    names: list[str] = []
    while coro is not None:
        code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
        if code is None:
            break
        if "tsunagi" in code.co_filename or not names:
            names.append(code.co_qualname)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return " > ".join(names[:4])


class _Timed(Coroutine[Any, Any, Any]):
    __slots__ = ("_coro",)

    def __init__(self, coro: Any) -> None:
        self._coro = coro

    def _step(self, method: Any, *args: Any) -> Any:
        key = _key(self._coro)
        before = time.thread_time_ns()
        wall = time.perf_counter_ns()
        try:
            return method(*args)
        finally:
            took = time.thread_time_ns() - before
            cpu[key] += took
            steps[key] += 1
            wall = time.perf_counter_ns() - wall
            if wall > LONG_NS:
                entry = long_steps.setdefault(key, [0, 0, 0])
                entry[0] += 1
                if wall > entry[1]:
                    entry[1], entry[2] = wall, took

    def send(self, value: Any) -> Any:
        return self._step(self._coro.send, value)

    def throw(self, *args: Any) -> Any:
        return self._step(self._coro.throw, *args)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, None, Any]:
        return self._coro.__await__()  # type: ignore[no-any-return]


def _factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
    return asyncio.Task(_Timed(coro), loop=loop, **kwargs)


def _write(*_: object) -> None:
    assert OUTPUT is not None
    total = time.thread_time_ns() - started[0]
    figures = {key: [ns / 1e9, steps[key]] for key, ns in cpu.most_common()}
    figures["(outside tasks)"] = [(total - sum(cpu.values())) / 1e9, 0]
    for generation, (count, ns, longest) in pauses.items():
        figures[f"(gc generation {generation}, longest {longest / 1e6:.1f} ms)"] = [ns / 1e9, count]
    by_count = sorted(long_steps.items(), key=lambda item: -item[1][0])
    with open(OUTPUT, "w") as file:
        json.dump(figures, file)
    with open(OUTPUT + ".long.json", "w") as file:
        json.dump(
            {
                key: {"over_5ms": n, "longest_wall_ms": w / 1e6, "its_cpu_ms": c / 1e6}
                for key, (n, w, c) in by_count
            },
            file,
            indent=1,
        )


def _clear(*_: object) -> None:
    cpu.clear()
    steps.clear()
    long_steps.clear()
    for entry in pauses.values():
        entry[:] = [0, 0, 0]
    started[0] = time.thread_time_ns()


def _install() -> None:
    import uvloop

    new_event_loop = uvloop.new_event_loop

    def profiled_loop() -> uvloop.Loop:
        loop = new_event_loop()
        loop.set_task_factory(_factory)
        started[0] = time.thread_time_ns()
        return loop

    uvloop.new_event_loop = profiled_loop
    gc.callbacks.append(_on_gc)
    signal.signal(signal.SIGUSR1, _clear)
    signal.signal(signal.SIGUSR2, _write)
    atexit.register(_write)


# Only in the server (``tsunagi serve``), not in the children it starts (the figures
# projector), which inherit its environment.
if OUTPUT and os.path.basename(sys.argv[0]) == "tsunagi":
    _install()
