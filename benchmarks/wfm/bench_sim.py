"""Simulator throughput: Tsunagi's engine vs an equivalent SimPy model, in one run.

Run: ``python benchmarks/wfm/bench_sim.py [--skip-simpy-1m]``; ``--per-call N`` instead
runs the 100k-call day, the 1M-call day of the ten-times larger center and ten 100k days
of the same center (1M calls, as long a run) N times each, alternating, and prints the CPU
time per call of every run, its spread and the ratios (the "no slowdown per call" check,
with the run-to-run noise beside it).

Both models get the *same* pre-drawn calls (``draw_calls``: arrival time, queue,
handle + after-call work, patience) and the same constant staffing: two queues,
three agent groups (one per queue plus a blended group holding both skills).
The SimPy model is the textbook one: agents are items of a ``FilterStore``;
a call process waits for ``store.get(skill filter) | timeout(patience)`` and
puts the agent back after the hold time. Routing rules differ in detail
(SimPy serves get requests in FIFO order and takes the first matching agent;
Tsunagi runs the routing policy with best-skilled / longest-idle choice), so
the KPIs are shown side by side as a sanity check, not expected to be equal.

Times are process CPU seconds (``time.process_time``), not wall time: the
development machine is shared, and CPU time is far less sensitive to other load.
Each figure is the best of the same number of runs for both models (one SimPy run
where it takes minutes: the backlog). The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Generator
from typing import Any

import simpy
from msgspec.structs import replace

from tsunagi.sim.engine import draw_calls, simulate
from tsunagi.sim.scenario import AgentGroup, Distribution, QueueSpec, Scenario

INTERVALS = 96  # a 24-hour day of quarter-hours


def scenario(
    scale: float,
    staff_factor: float,
    patience_s: float | None,
    days: int = 1,
    ring_s: float | None = None,
) -> Scenario:
    """Two queues at 1,042 x ``scale`` calls per quarter-hour for ``days`` days."""
    intervals = INTERVALS * days
    patience = Distribution("exponential", patience_s) if patience_s else None
    ring = Distribution("constant", ring_s) if ring_s else None
    handle = Distribution("exponential", 240)
    return Scenario(
        queues=[
            QueueSpec("a", [600 * scale] * intervals, handle, patience=patience, ring_time=ring),
            QueueSpec("b", [440 * scale] * intervals, handle, patience=patience, ring_time=ring),
        ],
        agent_groups=[
            AgentGroup("a-only", {"a": 1}, [round(100 * scale * staff_factor)] * intervals),
            AgentGroup("b-only", {"b": 1}, [round(70 * scale * staff_factor)] * intervals),
            AgentGroup(
                "blended", {"a": 1, "b": 1}, [round(120 * scale * staff_factor)] * intervals
            ),
        ],
    )


def run_simpy(sc: Scenario, seed: int) -> dict[str, float]:
    times, queues, holds, patiences, _rings = draw_calls(sc, seed)
    names = [q.name for q in sc.queues]
    env = simpy.Environment()
    store = simpy.FilterStore(env)
    for group in sc.agent_groups:
        for _ in range(group.staffing[0]):
            store.put(frozenset(group.skills))
    answered = abandoned = within = 0
    wait_sum = 0.0

    def call(i: int) -> Generator[Any, Any, None]:
        nonlocal answered, abandoned, within, wait_sum
        skill = names[queues[i]]
        arrived = env.now
        get = store.get(lambda agent: skill in agent)
        patience = patiences[i]
        if patience == float("inf"):
            agent = yield get
        else:
            result = yield get | env.timeout(patience)
            if get not in result:
                get.cancel()
                abandoned += 1
                return
            agent = result[get]
        wait = env.now - arrived
        answered += 1
        wait_sum += wait
        within += wait <= sc.service_seconds
        yield env.timeout(holds[i])
        store.put(agent)

    def source() -> Generator[Any, Any, None]:
        for i, t in enumerate(times):
            yield env.timeout(t - env.now)
            env.process(call(i))

    env.process(source())
    env.run()
    n = len(times)
    return {
        "calls": n,
        "service_level": within / n,
        "abandon_rate": abandoned / n,
        "asa_s": wait_sum / max(answered, 1),
    }


def measure(
    label: str, sc: Scenario, with_simpy: bool, runs: int = 2, simpy_runs: int | None = None
) -> None:
    t_ours = float("inf")
    for _ in range(runs):  # best of several: the machine is shared
        t0 = time.process_time()
        ours = simulate(sc, seed=1)
        t_ours = min(t_ours, time.process_time() - t0)
    line = (
        f"| {label} | {ours.calls:,} | {ours.calls / t_ours:,.0f} | "
        f"SL {ours.total.service_level:.3f}, ab {ours.total.abandon_rate:.3f}, "
        f"ASA {ours.total.asa_s:.1f} s |"
    )
    if with_simpy:
        t_ref = float("inf")
        for _ in range(runs if simpy_runs is None else simpy_runs):
            t0 = time.process_time()
            ref = run_simpy(sc, seed=1)
            t_ref = min(t_ref, time.process_time() - t0)
        line += (
            f" {ref['calls'] / t_ref:,.0f} | SL {ref['service_level']:.3f}, "
            f"ab {ref['abandon_rate']:.3f}, ASA {ref['asa_s']:.1f} s |"
            f" {t_ref / t_ours:.1f}x |"
        )
    else:
        line += " (not run) | | |"
    print(line, flush=True)


def per_call(runs: int) -> None:
    """CPU microseconds per call of the 100k day and the 1M day (scale 10), alternating."""
    cases = {
        "100k day": scenario(1, 1, 180),
        "1M day (10x center)": scenario(10, 1, 180),
        # the same 1M calls on the 1x center: runs as long as the 1M day, only the center
        # differs (a short run's best catches a quiet moment of a loaded machine more easily)
        "10 x 100k days (1x center)": scenario(1, 1, 180, days=10),
    }
    times: dict[str, list[float]] = {label: [] for label in cases}
    for _ in range(runs):
        for label, sc in cases.items():
            t0 = time.process_time()
            result = simulate(sc, seed=1)
            times[label].append((time.process_time() - t0) / result.calls * 1e6)
    for label, values in times.items():
        spread = (max(values) - min(values)) / min(values)
        print(
            f"{label}: us/call min {min(values):.3f} median {statistics.median(values):.3f}"
            f" max {max(values):.3f} (spread {spread:.1%}) runs "
            + " ".join(f"{v:.3f}" for v in values)
        )
    small, large, long = times.values()
    for label, base in (("100k day", small), ("10 x 100k days", long)):
        pairs = " ".join(f"{a / b:.3f}" for a, b in zip(large, base, strict=True))
        print(
            f"1M day (10x center) / {label} per call: {min(large) / min(base):.3f} (best of"
            f" each), {statistics.median(large) / statistics.median(base):.3f} (medians);"
            f" run by run {pairs}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-simpy-1m", action="store_true")
    parser.add_argument(
        "--tsunagi-only", action="store_true", help="Only the per-call scaling of our engine."
    )
    parser.add_argument("--per-call", type=int, metavar="N", help="Only the per-call check.")
    args = parser.parse_args()
    if args.per_call:
        print(
            "load average (1, 5, 15 min) at the start: {:.2f} {:.2f} {:.2f}".format(
                *os.getloadavg()
            )
        )
        per_call(args.per_call)
        print(
            "load average (1, 5, 15 min) at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
        )
        return
    simpy_on = not args.tsunagi_only
    print("load average (1, 5, 15 min) at the start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print("| case | calls | Tsunagi calls/s | Tsunagi KPIs | SimPy calls/s | SimPy KPIs | ratio |")
    print("|---|---|---|---|---|---|---|")
    measure(
        "100k-call day, staffed (rho 0.96), patience 180 s", scenario(1, 1, 180), simpy_on, runs=3
    )
    measure(
        "1M-call day, staffed (10x calls and agents)",
        scenario(10, 1, 180),
        simpy_on and not args.skip_simpy_1m,
    )
    measure(
        "1M calls: 10 staffed days of the same center",
        scenario(1, 1, 180, days=10),
        simpy_on and not args.skip_simpy_1m,
    )
    # The simulator's own features beyond the SimPy model (no SimPy counterpart here):
    # an 8 s ring before every answer, and queue b as chat: its 70 single-skill agents
    # replaced by 24 holding three chats each (the blended group keeps one of each).
    measure("100k-call day, 8 s ring time (Tsunagi only)", scenario(1, 1, 180, ring_s=8), False)
    base = scenario(1, 1, 180)
    chat = Scenario(
        queues=[base.queues[0], replace(base.queues[1], channel="chat")],
        agent_groups=[
            base.agent_groups[0],
            replace(base.agent_groups[1], staffing=[24] * INTERVALS, capacity={"chat": 3}),
            base.agent_groups[2],
        ],
    )
    measure("100k-call day, queue b as chat, 24 agents x 3 chats (Tsunagi only)", chat, False)
    measure(
        "100k-call day, understaffed 80 %, no abandonment (backlog)",
        scenario(1, 0.8, None),
        simpy_on,
        runs=3,
        simpy_runs=1,  # SimPy needs minutes here
    )
    measure(
        "100k-call day, understaffed 60 %, no abandonment (queue peaks ~37k vs ~16k; Tsunagi only)",
        scenario(1, 0.6, None),
        False,
        runs=3,
    )
    print("load average (1, 5, 15 min) at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
