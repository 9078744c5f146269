"""The Router makes exactly the choices of the brute-force reference, and the discipline's rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tsunagi.routing.policy import Assignment, Need, Router
from tsunagi.routing.reference import ReferenceRouter

SKILLS = ["a", "b", "c", "en"]
AGENTS = [f"g{i}" for i in range(6)]
needs = st.builds(
    Need,
    channel=st.sampled_from(["voice", "chat"]),
    skill=st.sampled_from(SKILLS[:3]),
    extras=st.sampled_from([frozenset(), frozenset({"en"})]),
    agents=st.sampled_from([frozenset(), frozenset({"g1"}), frozenset({"g2", "g4"})]),
)
profiles = st.tuples(
    st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 10), min_size=1),
    st.fixed_dictionaries({"voice": st.integers(0, 1), "chat": st.integers(0, 3)}),
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("enqueue"), needs, st.integers(0, 3)),
        st.tuples(st.just("agent"), st.sampled_from(AGENTS), profiles),
        st.tuples(st.just("ready"), st.sampled_from(AGENTS), st.booleans()),
        st.tuples(st.just("release"), st.sampled_from(AGENTS), st.sampled_from(["voice", "chat"])),
        st.tuples(st.just("remove"), st.integers(0, 200), st.none()),
        # An agent removed and maybe added again: the Router gives its number to the next
        # new agent, whose old free-agent entries must stay stale.
        st.tuples(st.just("drop"), st.sampled_from(AGENTS), st.none()),
        st.tuples(st.just("decide"), st.none(), st.none()),
    ),
    max_size=80,
)


Op = tuple[str, object, object]


def run(router: Router | ReferenceRouter, ops: list[Op]) -> list[Assignment]:
    made: list[Assignment] = []
    loads: dict[str, dict[str, int]] = {}
    now = 0.0
    for number, (kind, first, second) in enumerate(ops):
        now += 1.5
        if kind == "enqueue":
            assert isinstance(first, Need)
            assert isinstance(second, int)
            router.enqueue(f"k{number}", first, priority=second, ranked_at=now)
        elif kind == "agent":
            assert isinstance(first, str)
            assert isinstance(second, tuple)
            skills, capacity = second
            router.set_agent(
                first,
                skills=skills,
                capacity=capacity,
                ready=True,
                load=loads.get(first, {}),
                idle_since=now,
            )
        elif kind == "ready" and first in loads:
            if second:
                router.agent_ready(first, now=now)
            else:
                router.agent_not_ready(first)
        elif kind == "release" and loads.get(str(first), {}).get(str(second), 0) > 0:
            loads[str(first)][str(second)] -= 1
            router.release(first, str(second), now=now)
        elif kind == "remove":
            router.remove(f"k{first}")
        elif kind == "drop":
            router.remove_agent(first)
            loads.pop(str(first), None)
        elif kind == "decide":
            found = router.next_assignment()
            if found is not None:
                made.append(found)
                load = loads.setdefault(str(found.agent_id), {})
                load[found.channel] = load.get(found.channel, 0) + 1
        if kind == "agent":
            loads.setdefault(str(first), {})
    while (found := router.next_assignment()) is not None:
        made.append(found)
    return made


@settings(max_examples=300, deadline=None)
@given(operations)
def test_router_matches_the_brute_force_reference(ops: list[tuple[str, object, object]]) -> None:
    assert run(Router(), ops) == run(ReferenceRouter(), ops)


# Fewer agents than above, and "release" / "free" pick one of the contacts held at the time
# (by index), so agents often become free with contacts waiting or not.
FEW = AGENTS[:3]
combined_operations = st.lists(
    st.one_of(
        st.tuples(st.just("enqueue"), needs, st.integers(0, 3)),
        st.tuples(st.just("arrive"), needs, st.integers(0, 3)),
        st.tuples(st.just("agent"), st.sampled_from(FEW), profiles),
        st.tuples(st.just("ready"), st.sampled_from(FEW), st.booleans()),
        st.tuples(st.just("release"), st.integers(0, 7), st.none()),
        st.tuples(st.just("free"), st.integers(0, 7), st.none()),
        st.tuples(st.just("remove"), st.integers(0, 200), st.none()),
        st.tuples(st.just("decide"), st.none(), st.none()),
    ),
    min_size=20,
    max_size=120,
)


def run_combined(router: Router | ReferenceRouter, ops: list[Op]) -> list[Assignment | None]:
    """Like :func:`run`, with the Router's one-step ``enqueue_and_match`` ("arrive") and
    ``release_and_match`` ("free"); the reference takes the two steps they stand for."""
    made: list[Assignment | None] = []
    loads: dict[str, dict[str, int]] = {}
    now = 0.0

    def note(found: Assignment | None) -> None:
        made.append(found)
        if found is not None:
            load = loads.setdefault(str(found.agent_id), {})
            load[found.channel] = load.get(found.channel, 0) + 1

    for number, (kind, first, second) in enumerate(ops):
        now += 1.5
        if kind in ("enqueue", "arrive"):
            assert isinstance(first, Need)
            assert isinstance(second, int)
            if kind == "arrive" and isinstance(router, Router):
                match = router.enqueue_and_match(
                    f"k{number}", first, priority=second, ranked_at=now
                )
                note(None if match is None else Assignment(*match))
            else:
                router.enqueue(f"k{number}", first, priority=second, ranked_at=now)
                if kind == "arrive":
                    note(router.next_assignment())
        elif kind == "agent":
            assert isinstance(first, str)
            assert isinstance(second, tuple)
            skills, capacity = second
            router.set_agent(
                first,
                skills=skills,
                capacity=capacity,
                ready=True,
                load=loads.get(first, {}),
                idle_since=now,
            )
            loads.setdefault(first, {})
        elif kind == "ready" and first in loads:
            if second:
                router.agent_ready(first, now=now)
            else:
                router.agent_not_ready(first)
        elif kind in ("release", "free"):
            held = sorted((a, c) for a, load in loads.items() for c, n in load.items() if n > 0)
            if not held:
                continue
            assert isinstance(first, int)
            agent_id, channel = held[first % len(held)]
            loads[agent_id][channel] -= 1
            if kind == "free" and isinstance(router, Router):
                match = router.release_and_match(agent_id, channel, now=now)
                note(None if match is None else Assignment(*match))
            else:
                router.release(agent_id, channel, now=now)
                if kind == "free":
                    note(router.next_assignment())
        elif kind == "remove":
            router.remove(f"k{first}")
        elif kind == "decide":
            note(router.next_assignment())
    while (found := router.next_assignment()) is not None:
        made.append(found)
    return made


@settings(max_examples=500, deadline=None)
@given(combined_operations)
def test_one_step_calls_match_the_two_steps_they_stand_for(ops: list[Op]) -> None:
    assert run_combined(Router(), ops) == run_combined(ReferenceRouter(), ops)


def _agent(router: Router, agent_id: str, skills: dict[str, int], idle_since: float) -> None:
    router.set_agent(
        agent_id, skills=skills, capacity={"voice": 1}, ready=True, idle_since=idle_since
    )


def test_longest_waiting_contact_goes_first_and_priority_ages() -> None:
    router = Router(priority_step_s=60)
    need = Need("voice", "billing")
    router.enqueue("old", need, ranked_at=0.0)
    router.enqueue("vip", need, priority=1, ranked_at=50.0)  # ranks as if it came at -10 s
    router.enqueue("newer", need, ranked_at=10.0)
    _agent(router, "a", {"billing": 5}, 0.0)
    assert router.next_assignment() == Assignment("vip", "a", "voice")
    router.release("a", "voice", now=100.0)
    assert router.next_assignment() == Assignment("old", "a", "voice")
    router.enqueue("late-vip", need, priority=1, ranked_at=200.0)  # 140 s: after "newer"
    router.release("a", "voice", now=200.0)
    assert router.next_assignment() == Assignment("newer", "a", "voice")


def test_best_skilled_then_longest_idle_agent() -> None:
    router = Router()
    _agent(router, "novice", {"gas": 2}, 0.0)
    _agent(router, "expert-recent", {"gas": 9}, 50.0)
    _agent(router, "expert-idle", {"gas": 9}, 10.0)
    assert router.next_assignment() is None
    router.enqueue("c1", Need("voice", "gas"), ranked_at=60.0)
    assert router.next_assignment() == Assignment("c1", "expert-idle", "voice")
    router.enqueue("c2", Need("voice", "gas"), ranked_at=61.0)
    assert router.next_assignment() == Assignment("c2", "expert-recent", "voice")
    router.enqueue("c3", Need("voice", "gas"), ranked_at=62.0)
    assert router.next_assignment() == Assignment("c3", "novice", "voice")
    router.enqueue("c4", Need("voice", "gas"), ranked_at=63.0)
    assert router.next_assignment() is None
    assert router.waiting_count == 1


def test_vip_waits_for_its_named_agent_while_others_are_free() -> None:
    router = Router()
    _agent(router, "other", {"gas": 9}, 0.0)
    router.enqueue("vip", Need("voice", "gas", agents=frozenset({"named"})), ranked_at=1.0)
    assert router.next_assignment() is None
    _agent(router, "named", {}, 2.0)  # named agents need not hold the skill
    assert router.next_assignment() == Assignment("vip", "named", "voice")


def test_agents_of_one_profile_share_a_plan_but_a_named_agent_keeps_its_own() -> None:
    # Sharing keeps a large center's working set small; it must not lend one agent's named
    # lanes to another, nor survive a new lane.
    router = Router()
    for agent in ("a1", "a2", "a3"):
        router.set_agent(agent, skills={"s": 1, "t": 1}, capacity={"voice": 1}, ready=False)
    router.enqueue("vip", Need("voice", "s", agents=frozenset({"a2"})), ranked_at=0.0)
    router.enqueue("c", Need("voice", "s"), ranked_at=1.0)
    assert router.next_assignment() is None
    for agent in ("a1", "a3", "a2"):
        router.agent_ready(agent, now=5.0)
    assert list(router.assignments()) == [
        Assignment("c", "a1", "voice"),
        Assignment("vip", "a2", "voice"),
    ]
    a1, a2, a3 = (router.agent(agent) for agent in ("a1", "a2", "a3"))
    assert a1 is not None and a2 is not None and a3 is not None
    assert a1.plan is a3.plan
    assert a2.plan is not a1.plan
    router.enqueue("t", Need("voice", "t"), ranked_at=6.0)  # a new lane: plans are rebuilt
    assert router.next_assignment() == Assignment("t", "a3", "voice")
    for agent in ("a4", "a5"):
        router.set_agent(agent, skills={"s": 1, "t": 1}, capacity={"voice": 1}, ready=False)
    a4, a5 = router.agent("a4"), router.agent("a5")
    assert a4 is not None and a5 is not None
    assert a4.plan is a5.plan
    assert a4.plan is not a1.plan  # built before the lane of "t" existed


def test_chat_capacity_allows_several_contacts_least_loaded_first() -> None:
    router = Router()
    router.set_agent("a", skills={"s": 5}, capacity={"chat": 3}, ready=True, idle_since=0.0)
    router.set_agent("b", skills={"s": 5}, capacity={"chat": 3}, ready=True, idle_since=1.0)
    for number in range(7):
        router.enqueue(f"c{number}", Need("chat", "s"), ranked_at=float(number))
    got = [a.agent_id for a in router.assignments()]
    assert got == ["a", "b", "a", "b", "a", "b"]
    assert router.waiting_count == 1


def test_removed_contact_is_never_offered_and_requeue_keeps_place() -> None:
    router = Router()
    need = Need("voice", "s")
    for number in range(3):
        router.enqueue(f"c{number}", need, ranked_at=float(number))
    assert router.remove("c0")
    assert not router.remove("c0")
    router.enqueue("c0", need, ranked_at=0.0)  # put back (e.g. after a missed offer)
    _agent(router, "a", {"s": 1}, 0.0)
    assert router.next_assignment() == Assignment("c0", "a", "voice")


def test_not_ready_agent_gets_nothing() -> None:
    router = Router()
    _agent(router, "a", {"s": 1}, 0.0)
    router.agent_not_ready("a")
    router.enqueue("c", Need("voice", "s"), ranked_at=0.0)
    assert router.next_assignment() is None
    router.agent_ready("a", now=5.0)
    assert router.next_assignment() == Assignment("c", "a", "voice")


def test_an_agent_is_read_live_and_a_removed_agents_number_goes_to_the_next_agent() -> None:
    router = Router()
    router.set_agent("a", skills={"s": 2}, capacity={"voice": 1, "chat": 2}, ready=True)
    router.set_agent("b", skills={"s": 2}, capacity={"voice": 1}, ready=True, idle_since=9.0)
    assert router.next_assignment() is None  # both wait in the lanes of free agents
    a = router.agent("a")
    assert a is not None and a.load == {"chat": 0, "voice": 0} and a.ready
    router.enqueue("c1", Need("chat", "s"), ranked_at=1.0)
    assert router.next_assignment() == Assignment("c1", "a", "chat")
    assert a.load == {"chat": 1, "voice": 0}  # a view: it follows the router
    assert a.free_on("chat") and a.rank("chat", "s") == (-2, 1, 0.0, 1)
    assert router.next_assignment() is None
    router.remove_agent("a")  # its entries (the best-ranked: idle since 0) go stale
    assert router.agent("a") is None
    router.enqueue("c2", Need("voice", "s"), ranked_at=21.0)
    assert router.next_assignment() == Assignment("c2", "b", "voice")
    # A new agent gets "a"'s number, and is itself, not "a".
    router.set_agent("z", skills={"s": 2}, capacity={"voice": 1}, ready=True, idle_since=20.0)
    router.enqueue("c3", Need("voice", "s"), ranked_at=22.0)
    assert router.next_assignment() == Assignment("c3", "z", "voice")
    assert [view.agent_id for view in router.agents()] == ["b", "z"]
    assert router.agent("z").load == {"voice": 1}  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="holds nothing"):
        router.release("b", "chat", now=23.0)
