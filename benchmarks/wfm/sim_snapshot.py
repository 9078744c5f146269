"""The simulator's results on 21 scenario/seed pairs, as JSON with exact floats.

A change meant to keep results bit for bit (a speed-up) is checked by running this at
the commit before it and after it and comparing the files::

    python benchmarks/wfm/sim_snapshot.py /tmp/before.json   # at the old commit
    python benchmarks/wfm/sim_snapshot.py /tmp/after.json
    cmp /tmp/before.json /tmp/after.json

Every KPI per queue and interval, the occupancy per interval, calls and events. The cases
cover the bench's center (1x and 10x), backlogs, ring time, chat capacity, several days,
priorities with mixed proficiencies and staffing changes, several distributions, no
agents, a long tail, time ties (constant distributions), an empty queue.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import bench_sim
from msgspec.structs import replace

from tsunagi.sim.engine import simulate
from tsunagi.sim.scenario import AgentGroup, Distribution, QueueSpec, Scenario

EXP = Distribution("exponential", 180)


def cases() -> Iterator[tuple[str, Scenario, int]]:
    bench_sim.INTERVALS = 16
    yield "bench staffed", bench_sim.scenario(1, 1, 180), 1
    yield "bench staffed s2", bench_sim.scenario(1, 1, 180), 2
    yield "bench 10x", bench_sim.scenario(10, 1, 180), 1
    yield "bench under 0.8 backlog", bench_sim.scenario(1, 0.8, None), 1
    yield "bench under 0.6", bench_sim.scenario(1, 0.6, None), 3
    yield "bench ring 8", bench_sim.scenario(1, 1, 180, ring_s=8), 1
    yield "bench 3 days", bench_sim.scenario(1, 1, 180, days=2), 4
    sc = bench_sim.scenario(1, 1, 180)
    q = [sc.queues[0], replace(sc.queues[1], channel="chat")]
    g = [
        sc.agent_groups[0],
        replace(sc.agent_groups[1], staffing=[24] * 16, capacity={"chat": 3}),
        sc.agent_groups[2],
    ]
    yield "chat", replace(sc, queues=q, agent_groups=g), 1
    n = 12
    yield (
        "priorities mixed prof staffing changes",
        Scenario(
            queues=[
                QueueSpec(
                    "a",
                    [50, 80, 120, 60] * 3,
                    Distribution("lognormal", 200, 0.8),
                    Distribution("constant", 20),
                    EXP,
                    priority=2,
                ),
                QueueSpec(
                    "b",
                    [40, 90, 30, 70] * 3,
                    Distribution("gamma", 300, 0.5),
                    patience=Distribution("exponential", 90),
                ),
                QueueSpec(
                    "c",
                    [10, 20, 30, 5] * 3,
                    Distribution("empirical", values_s=[60, 120, 600]),
                    priority=1,
                    ring_time=Distribution("exponential", 5),
                ),
            ],
            agent_groups=[
                AgentGroup("x", {"a": 3, "b": 1}, [5, 9, 2, 7] * 3),
                AgentGroup("y", {"b": 2, "c": 1}, [3, 0, 6, 4] * 3),
                AgentGroup("z", {"a": 1, "b": 1, "c": 2}, [2, 4, 4, 1] * 3, {"voice": 2}),
            ],
            priority_step_s=30,
        ),
        7,
    )
    for seed in (0, 5):
        yield (
            f"priorities seed {seed}",
            Scenario(
                queues=[
                    QueueSpec("a", [30] * n, EXP, priority=1),
                    QueueSpec("b", [30] * n, EXP, patience=Distribution("exponential", 60)),
                ],
                agent_groups=[
                    AgentGroup("x", {"a": 2, "b": 1}, [4, 8, 1, 0] * 3),
                    AgentGroup("y", {"b": 3}, [2] * n),
                ],
            ),
            seed,
        )
    yield (
        "no agents",
        Scenario(
            queues=[QueueSpec("a", [20] * 4, EXP, patience=EXP)],
            agent_groups=[AgentGroup("x", {"a": 1}, [0] * 4)],
        ),
        1,
    )
    yield (
        "no agents no patience",
        Scenario(
            queues=[QueueSpec("a", [20] * 4, EXP)],
            agent_groups=[AgentGroup("x", {"a": 1}, [0] * 4)],
        ),
        1,
    )
    yield (
        "long tail",
        Scenario(
            queues=[QueueSpec("a", [200, 0, 0], Distribution("lognormal", 1200, 2.0))],
            agent_groups=[AgentGroup("x", {"a": 1}, [3, 3, 3])],
        ),
        2,
    )
    yield (
        "time ties constant",
        Scenario(
            queues=[
                QueueSpec(
                    "a",
                    [40] * 6,
                    Distribution("constant", 60),
                    patience=Distribution("constant", 30),
                    ring_time=Distribution("constant", 2),
                ),
                QueueSpec(
                    "b",
                    [40] * 6,
                    Distribution("constant", 60),
                    patience=Distribution("constant", 30),
                ),
            ],
            agent_groups=[AgentGroup("x", {"a": 1, "b": 1}, [3, 4, 2, 5, 3, 3])],
            interval_minutes=1,
        ),
        3,
    )
    yield (
        "ties no ring",
        Scenario(
            queues=[
                QueueSpec(
                    "a",
                    [40] * 6,
                    Distribution("constant", 60),
                    patience=Distribution("constant", 30),
                )
            ],
            agent_groups=[
                AgentGroup("x", {"a": 1}, [3, 4, 2, 5, 3, 3]),
                AgentGroup("y", {"a": 2}, [1] * 6),
            ],
            interval_minutes=1,
        ),
        4,
    )
    yield (
        "chat heavy ring",
        Scenario(
            queues=[
                QueueSpec(
                    "w",
                    [80] * 8,
                    EXP,
                    channel="chat",
                    patience=Distribution("exponential", 300),
                    ring_time=Distribution("constant", 3),
                ),
                QueueSpec("p", [40] * 8, EXP, patience=EXP),
            ],
            agent_groups=[
                AgentGroup("v", {"p": 1}, [6] * 8),
                AgentGroup("b", {"p": 1, "w": 1}, [4, 5, 3, 4, 2, 6, 4, 4], {"chat": 3}),
            ],
        ),
        11,
    )
    yield (
        "ring abandon",
        Scenario(
            queues=[
                QueueSpec(
                    "a",
                    [60] * 6,
                    EXP,
                    patience=Distribution("exponential", 20),
                    ring_time=Distribution("exponential", 15),
                )
            ],
            agent_groups=[AgentGroup("x", {"a": 1}, [8, 12, 4, 10, 0, 6])],
        ),
        9,
    )
    yield (
        "zero staff middle",
        Scenario(
            queues=[QueueSpec("a", [60] * 6, EXP)],
            agent_groups=[AgentGroup("x", {"a": 1}, [10, 0, 0, 12, 12, 1])],
        ),
        5,
    )
    yield (
        "empty queue",
        Scenario(
            queues=[QueueSpec("a", [0] * 4, EXP)], agent_groups=[AgentGroup("x", {"a": 1}, [3] * 4)]
        ),
        1,
    )
    yield (
        "interval 30 svc 10",
        Scenario(
            queues=[QueueSpec("a", [100] * 5, Distribution("exponential", 150), patience=EXP)],
            agent_groups=[AgentGroup("x", {"a": 1}, [9, 8, 10, 7, 9])],
            interval_minutes=30,
            service_seconds=10,
        ),
        6,
    )


def main() -> None:
    out = {}
    for name, sc, seed in cases():
        result = simulate(sc, seed)
        data = result.to_dict()
        data["calls"], data["events"] = result.calls, result.events
        out[f"{name} / {seed}"] = data
    with open(sys.argv[1], "w") as file:  # (json writes floats with repr: exact)
        json.dump(out, file, indent=0, sort_keys=True)
    print(f"{len(out)} cases -> {sys.argv[1]}")


if __name__ == "__main__":
    main()
