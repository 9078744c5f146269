"""Routing decisions in-process: 1,000 agents, 50 skills, 10,000 waiting contacts.

Run: ``python benchmarks/routing/bench_policy.py`` (add ``--check`` to replay the recorded
stream through the brute-force reference and compare every choice; ``--waiting N`` to see
that the cost per decision does not grow with the number waiting).

The stream is recorded first (seeded), then replayed: every step frees one busy agent
(an agent trigger: it must pick the best-ranked eligible contact among all waiting) and
enqueues one new contact (a contact trigger: it must look for a free eligible agent). The
floor stays full, so the number waiting stays constant. A *decision* is one
``next_assignment`` call that resolves a trigger.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from dataclasses import dataclass

from tsunagi.routing.policy import Assignment, Need, Router
from tsunagi.routing.reference import ReferenceRouter

SKILLS = [f"s{i:02d}" for i in range(47)] + ["lang-en", "lang-zh", "lang-ko"]
LANGUAGES = SKILLS[47:]


@dataclass(frozen=True, slots=True)
class Arrival:
    contact_id: int
    need: Need
    priority: int
    at: float


def build_agents(rng: random.Random, n_agents: int) -> list[tuple[int, dict[str, int]]]:
    agents = []
    for agent_id in range(n_agents):
        skills = rng.sample(SKILLS[:47], rng.randint(2, 6))
        if rng.random() < 0.2:
            skills.append(rng.choice(LANGUAGES))
        agents.append((agent_id, {s: rng.randint(1, 10) for s in skills}))
    return agents


def arrival(rng: random.Random, contact_id: int, at: float) -> Arrival:
    skill = SKILLS[min(46, int(rng.expovariate(1 / 12)))]  # some skills much busier
    extras = frozenset({rng.choice(LANGUAGES)}) if rng.random() < 0.05 else frozenset()
    priority = 3 if rng.random() < 0.05 else 0
    return Arrival(contact_id, Need("voice", skill, extras), priority, at)


def setup(router: Router | ReferenceRouter, seed: int, n_agents: int, n_waiting: int) -> None:
    rng = random.Random(seed)
    agents = build_agents(rng, n_agents)
    for agent_id, skills in agents:
        # Everyone starts busy with one call, so the waiting contacts stay waiting.
        router.set_agent(
            agent_id, skills=skills, capacity={"voice": 1}, ready=True, load={"voice": 1}
        )
    for contact_id in range(n_waiting):
        a = arrival(rng, contact_id, float(contact_id) * 0.01)
        router.enqueue(a.contact_id, a.need, priority=a.priority, ranked_at=a.at)
    while router.next_assignment() is not None:
        pass


def replay(router: Router | ReferenceRouter, stream: Stream) -> list[Assignment]:
    """Free ``agent`` (if it holds a call), decide, enqueue the arrival, decide."""
    made: list[Assignment] = []
    for step, (agent_id, new) in enumerate(stream):
        now = new.at
        slot = router.agent(agent_id) if isinstance(router, Router) else router.agents[agent_id]
        if slot is not None and slot.load.get("voice", 0) > 0:
            router.release(agent_id, "voice", now=now)
        while (found := router.next_assignment()) is not None:
            made.append(found)
        router.enqueue(new.contact_id, new.need, priority=new.priority, ranked_at=now)
        while (found := router.next_assignment()) is not None:
            made.append(found)
        del step
    return made


Stream = list[tuple[int, Arrival]]


def record_stream(seed: int, n_agents: int, n_waiting: int, steps: int) -> Stream:
    rng = random.Random(seed + 1)
    return [
        (rng.randrange(n_agents), arrival(rng, n_waiting + i, n_waiting * 0.01 + i * 0.01))
        for i in range(steps)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--waiting", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--check", action="store_true", help="compare with the brute force")
    args = parser.parse_args()

    stream = record_stream(args.seed, args.agents, args.waiting, args.steps)
    rates, cpu_rates = [], []
    for _ in range(args.repeats):
        router = Router()
        setup(router, args.seed, args.agents, args.waiting)
        waiting_before = router.waiting_count
        started, cpu_started = time.perf_counter(), time.process_time()
        made = replay(router, stream)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        decisions = 2 * len(stream)  # one agent trigger and one contact trigger per step
        rates.append(decisions / elapsed)
        cpu_rates.append(decisions / cpu)
    print(
        f"agents={args.agents} skills={len(SKILLS)} waiting={waiting_before} steps={args.steps} "
        f"assignments={len(made)}"
    )
    print(
        f"decisions/s median={statistics.median(rates):,.0f} "
        f"min={min(rates):,.0f} max={max(rates):,.0f} (repeats={args.repeats}); "
        f"µs/step median={2e6 / statistics.median(rates):.2f}"
    )
    print(
        f"decisions per CPU-second median={statistics.median(cpu_rates):,.0f} "
        f"(process time: less sensitive to other load on the machine)"
    )
    if args.check:
        reference = ReferenceRouter()
        setup(reference, args.seed, args.agents, args.waiting)
        check_steps = min(args.steps, 2000)
        expected = replay(reference, stream[:check_steps])
        router = Router()
        setup(router, args.seed, args.agents, args.waiting)
        got = replay(router, stream[:check_steps])
        same = expected == got
        print(f"reference check over {check_steps} steps: {len(got)} assignments, identical={same}")
        if not same:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
