"""Required agents per interval: service-level, ASA and occupancy targets, shrinkage.

Ceilings are taken on exact rationals. Inputs such as ``0.3`` or ``0.85`` are
turned into ``Fraction`` through their decimal text (``Fraction("0.3") == 3/10``),
so ``agents / (1 - shrinkage)`` is never rounded up past an integer by a float
error (``math.ceil(21 / 0.7) == 31`` in floats; the exact answer is 30).

Staffing of many intervals is vectorised: the smallest feasible agent count per
interval is found by a bisection run on all intervals at once (the service level,
ASA and abandonment of M/M/n and M/M/n+M are monotone in ``n``), Erlang C on
:func:`erlang_c_array`, Erlang A on :func:`erlang_a_array`. :func:`required_agents`
is the scalar reference for one interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Literal

import numpy as np
import numpy.typing as npt

from tsunagi.wfm.erlang import (
    QueueKpis,
    QueueKpisArray,
    erlang_a_array,
    erlang_a_kpis,
    erlang_c_array,
    erlang_c_kpis,
)

Model = Literal["erlang-c", "erlang-a"]
Number = int | float | str | Decimal | Fraction
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def exact(value: Number) -> Fraction:
    """An exact rational for a planner's figure: floats are read by their shortest text."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value}")
        return Fraction(str(float(value)))
    return Fraction(value)


def ceil_fraction(value: Fraction) -> int:
    """Exact ceiling of a rational."""
    return -((-value.numerator) // value.denominator)


def with_shrinkage(agents: int, shrinkage: Number) -> int:
    """Agents to schedule so that ``agents`` remain after shrinkage: ``ceil(n / (1 - s))``."""
    s = exact(shrinkage)
    if not 0 <= s < 1:
        raise ValueError(f"shrinkage must be in [0, 1), got {shrinkage}")
    return ceil_fraction(Fraction(agents) / (1 - s))


def with_shrinkage_array(agents: IntArray, shrinkage: Number) -> IntArray:
    """Vectorised :func:`with_shrinkage` in exact integer arithmetic."""
    s = exact(shrinkage)
    if not 0 <= s < 1:
        raise ValueError(f"shrinkage must be in [0, 1), got {shrinkage}")
    keep = 1 - s  # p/q; n / (p/q) = n q / p
    p, q = keep.numerator, keep.denominator
    if int(agents.max(initial=0)) * q >= 2**62:
        return np.array([ceil_fraction(Fraction(int(n) * q, p)) for n in agents], dtype=np.int64)
    return np.asarray(-((-agents * q) // p), dtype=np.int64)


@dataclass(frozen=True, slots=True)
class Target:
    """What the staffing must reach; ``None`` switches a criterion off.

    ``service_level`` of calls answered within ``service_seconds``; mean wait of
    answered calls at most ``asa_s``; occupancy at most ``max_occupancy``;
    for Erlang A, abandonment at most ``max_abandon``.
    """

    service_level: Fraction | None = Fraction(4, 5)
    service_seconds: float = 20.0
    asa_s: float | None = None
    max_occupancy: Fraction | None = None
    max_abandon: float | None = None

    def __post_init__(self) -> None:
        if self.service_level is not None and not 0 <= self.service_level < 1:
            raise ValueError("service level target must be in [0, 1)")
        if self.max_occupancy is not None and not 0 < self.max_occupancy <= 1:
            raise ValueError("max occupancy must be in (0, 1]")
        if self.service_seconds < 0:
            raise ValueError("service seconds must be >= 0")
        if self.asa_s is not None and self.asa_s <= 0:
            raise ValueError("ASA target must be > 0 seconds")

    def met_by(self, kpis: QueueKpis) -> bool:
        """True when ``kpis`` satisfy every active criterion."""
        if self.service_level is not None and kpis.service_level < self.service_level:
            return False
        if self.asa_s is not None and kpis.asa_s > self.asa_s:
            return False
        if self.max_occupancy is not None and kpis.occupancy > self.max_occupancy:
            return False
        return self.max_abandon is None or kpis.abandon_rate <= self.max_abandon


def traffic(volume: Number, aht_s: Number, interval_s: int) -> Fraction:
    """Offered load in Erlangs, exactly: ``volume * aht / interval``."""
    return exact(volume) * exact(aht_s) / interval_s


def minimum_agents(traffic_erlangs: Fraction, target: Target, model: Model) -> int:
    """The exact lower bound from stability (Erlang C) and the occupancy cap."""
    if traffic_erlangs == 0:
        return 0
    lower = 1
    if model == "erlang-c":
        lower = math.floor(traffic_erlangs) + 1
    if target.max_occupancy is not None:
        lower = max(lower, ceil_fraction(traffic_erlangs / target.max_occupancy))
    return lower


def _bisect(lower: int, feasible: Callable[[int], bool]) -> int:
    """Smallest ``n >= lower`` with ``feasible(n)``, for a monotone predicate."""
    if feasible(lower):
        return lower
    lo, step = lower, 1
    hi = lower + step
    while not feasible(hi):
        lo, step = hi, step * 2
        hi = lower + step
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if feasible(mid):
            hi = mid
        else:
            lo = mid
    return hi


def kpis_for(
    agents: int,
    traffic_erlangs: float,
    aht_s: float,
    target: Target,
    model: Model = "erlang-c",
    patience_s: float | None = None,
    *,
    with_asa: bool = True,
) -> QueueKpis:
    """Figures of one interval for ``agents`` under ``model``."""
    if model == "erlang-a":
        if patience_s is None:
            raise ValueError("Erlang A needs a mean patience (patience_s)")
        return erlang_a_kpis(
            agents,
            traffic_erlangs / aht_s,
            aht_s,
            patience_s,
            target.service_seconds,
            with_asa=with_asa,
        )
    return erlang_c_kpis(agents, traffic_erlangs, aht_s, target.service_seconds)


def required_agents(
    traffic_erlangs: Fraction,
    aht_s: Number,
    target: Target,
    model: Model = "erlang-c",
    patience_s: float | None = None,
) -> QueueKpis:
    """Fewest agents meeting ``target`` for one interval, with their figures."""
    aht = float(exact(aht_s))
    a = float(traffic_erlangs)
    lower = minimum_agents(traffic_erlangs, target, model)
    if traffic_erlangs == 0:
        return QueueKpis(0, 0.0, 1.0, 0.0, 0.0, 0.0)
    criteria = (target.service_level, target.asa_s, target.max_abandon, target.max_occupancy)
    if model == "erlang-a" and all(c is None for c in criteria):
        raise ValueError("Erlang A staffing needs at least one target")

    need_asa = target.asa_s is not None

    def feasible(n: int) -> bool:
        kpis = kpis_for(n, a, aht, target, model, patience_s, with_asa=need_asa)
        return target.met_by(kpis)

    n = _bisect(lower, feasible)
    return kpis_for(n, a, aht, target, model, patience_s)


@dataclass(frozen=True, slots=True)
class StaffingTable:
    """Per-interval results; all arrays have one entry per interval."""

    volume: FloatArray
    traffic_erlangs: FloatArray
    agents: IntArray
    agents_with_shrinkage: IntArray
    service_level: FloatArray
    asa_s: FloatArray
    occupancy: FloatArray
    abandon_rate: FloatArray | None
    p_wait: FloatArray
    interval_s: int


def _erlang_c_vector(
    lower: IntArray, a: FloatArray, aht_s: float, target: Target
) -> tuple[IntArray, FloatArray, FloatArray, FloatArray]:
    """Vectorised Erlang C staffing from the exact lower bounds; returns agents, SL, ASA and
    P(wait)."""
    busy = a > 0
    t_ratio = target.service_seconds / aht_s

    def feasible(n: IntArray, idx: npt.NDArray[np.intp]) -> npt.NDArray[np.bool_]:
        aa = a[idx]
        c = erlang_c_array(n, aa)
        gap = n - aa
        ok = np.ones(len(idx), dtype=bool)
        if target.service_level is not None:
            ok &= 1.0 - c * np.exp(-gap * t_ratio) >= float(target.service_level)
        if target.asa_s is not None:
            ok &= c * aht_s / gap <= target.asa_s
        return ok

    idx = np.flatnonzero(busy)
    lo = lower[idx] - 1  # known infeasible or below the lower bound
    step = np.maximum(1, np.ceil(np.sqrt(a[idx]))).astype(np.int64)
    hi = lower[idx] + step - 1
    pending = ~feasible(hi, idx)
    while pending.any():
        lo[pending] = hi[pending]
        step[pending] *= 2
        hi[pending] = lo[pending] + step[pending]
        pending[pending] = ~feasible(hi[pending], idx[pending])
    while True:
        open_ = hi - lo > 1
        if not open_.any():
            break
        mid = (lo + hi) // 2
        ok = feasible(mid[open_], idx[open_])
        sel = np.flatnonzero(open_)
        hi[sel[ok]] = mid[sel[ok]]
        lo[sel[~ok]] = mid[sel[~ok]]
    agents = np.zeros(len(a), dtype=np.int64)
    agents[idx] = hi
    sl, asa, pw = np.ones(len(a)), np.zeros(len(a)), np.zeros(len(a))
    c = erlang_c_array(hi, a[idx])
    gap = hi - a[idx]
    sl[idx] = 1.0 - c * np.exp(-gap * t_ratio)
    asa[idx] = c * aht_s / gap
    pw[idx] = c
    return agents, sl, asa, pw


def _float_at_least(value: Fraction) -> float:
    """The smallest float ``>= value``: ``x >= value`` iff ``x >= _float_at_least(value)``
    for every float ``x`` (the scalar path compares floats with the exact target)."""
    f = float(value)
    return f if Fraction(f) >= value else float(np.nextafter(f, math.inf))


def _float_at_most(value: Fraction) -> float:
    """The largest float ``<= value``."""
    f = float(value)
    return f if Fraction(f) <= value else float(np.nextafter(f, -math.inf))


def _erlang_a_vector(
    lower_all: IntArray, a: FloatArray, aht_s: float, patience_s: float, target: Target
) -> QueueKpisArray:
    """Vectorised Erlang A staffing: :func:`required_agents` on all intervals at once.

    The search starts at ``max(lower bound, ceil(a))`` and grows a bracket upward (not
    yet feasible) or downward (already feasible) in doubling steps of ``sqrt(a)``, then
    bisects; the same smallest feasible ``n`` as the scalar search, since both rely only
    on monotonicity. Intervals without traffic get 0 agents.
    """
    criteria = (target.service_level, target.asa_s, target.max_abandon, target.max_occupancy)
    if all(c is None for c in criteria):
        raise ValueError("Erlang A staffing needs at least one target")
    idx = np.flatnonzero(a > 0)
    rate = a[idx] / aht_s
    lower = lower_all[idx]
    sl_min = None if target.service_level is None else _float_at_least(target.service_level)
    occ_max = None if target.max_occupancy is None else _float_at_most(target.max_occupancy)
    need_asa = target.asa_s is not None

    def feasible(n: IntArray, where: npt.NDArray[np.intp]) -> npt.NDArray[np.bool_]:
        k = erlang_a_array(
            n, rate[where], aht_s, patience_s, target.service_seconds, with_asa=need_asa
        )
        ok = np.ones(len(where), dtype=bool)
        if sl_min is not None:
            ok &= k.service_level >= sl_min
        if target.asa_s is not None:
            ok &= k.asa_s <= target.asa_s
        if occ_max is not None:
            ok &= k.occupancy <= occ_max
        if target.max_abandon is not None:
            ok &= k.abandon_rate <= target.max_abandon
        return ok

    everyone = np.arange(len(idx))
    guess = np.maximum(lower, np.ceil(a[idx]).astype(np.int64))
    step = np.maximum(1, np.ceil(np.sqrt(a[idx]))).astype(np.int64)
    good = feasible(guess, everyone)
    hi = np.where(good, guess, 0)
    lo = np.where(good, 0, guess)
    # Not yet feasible: grow upward until feasible.
    up = np.flatnonzero(~good)
    while len(up):
        hi[up] = lo[up] + step[up]
        ok = feasible(hi[up], up)
        lo[up[~ok]] = hi[up[~ok]]
        step[up[~ok]] *= 2
        up = up[~ok]
    # Already feasible: step downward until infeasible or below the lower bound.
    step = np.maximum(1, np.ceil(np.sqrt(a[idx]))).astype(np.int64)
    down = np.flatnonzero(good)
    lo[down] = hi[down]
    while len(down):
        probe = hi[down] - step[down]
        floor = probe < lower[down]
        lo[down[floor]] = lower[down[floor]] - 1  # below the bound counts as infeasible
        down = down[~floor]
        probe = probe[~floor]
        if not len(down):
            break
        ok = feasible(probe, down)
        lo[down[~ok]] = probe[~ok]
        hi[down[ok]] = probe[ok]
        step[down[ok]] *= 2
        down = down[ok]
    while True:
        open_ = np.flatnonzero(hi - lo > 1)
        if not len(open_):
            break
        mid = (lo[open_] + hi[open_]) // 2
        ok = feasible(mid, open_)
        hi[open_[ok]] = mid[ok]
        lo[open_[~ok]] = mid[~ok]
    size = len(a)
    final = erlang_a_array(hi, rate, aht_s, patience_s, target.service_seconds)
    out = QueueKpisArray(
        agents=np.zeros(size, dtype=np.int64),
        p_wait=np.zeros(size),
        service_level=np.ones(size),
        asa_s=np.zeros(size),
        abandon_rate=np.zeros(size),
        occupancy=np.zeros(size),
    )
    out.agents[idx] = hi
    out.p_wait[idx] = final.p_wait
    out.service_level[idx] = final.service_level
    out.asa_s[idx] = final.asa_s
    out.abandon_rate[idx] = final.abandon_rate
    out.occupancy[idx] = final.occupancy
    return out


Volumes = Sequence[Number] | npt.NDArray[np.int64] | npt.NDArray[np.float64]


def _integer_volumes(volumes: Volumes) -> IntArray | None:
    """The volumes as an int64 array when every one is an integer (counts of calls)."""
    if isinstance(volumes, np.ndarray):
        return volumes.astype(np.int64) if volumes.dtype.kind in "iu" else None
    if all(type(v) is int for v in volumes):
        return np.fromiter(volumes, dtype=np.int64, count=len(volumes))
    return None


def _traffic_and_bounds(
    volumes: Volumes, aht: Fraction, interval_s: int, target: Target, model: Model
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Volumes and traffic as floats, and the exact lower bound of agents per interval.

    Whole-number volumes (the usual case) are done in int64 arrays: with ``aht = p/q``
    the traffic is ``v·p / (q·interval)``, its floor and the occupancy ceiling are integer
    divisions, and its float is the correctly rounded quotient of two exactly held
    doubles - the same as ``float(Fraction)``. Other volumes, or numbers too large for
    int64, go through :class:`Fraction` one by one.
    """
    ints = _integer_volumes(volumes)
    if ints is not None and len(ints) and int(ints.min()) < 0:
        raise ValueError("volumes must be >= 0")
    p, d = aht.numerator, aht.denominator * interval_s
    occ = target.max_occupancy
    r, s = (occ.numerator, occ.denominator) if occ is not None else (1, 1)
    top = int(ints.max(initial=0)) * p * s if ints is not None else 0
    if ints is not None and top < 2**53 and d * r < 2**53:
        work = ints * p  # traffic = work / d
        a = work / float(d)
        lower = np.where(ints > 0, 1, 0).astype(np.int64)
        if model == "erlang-c":
            lower = np.where(ints > 0, work // d + 1, 0)
        if occ is not None:
            lower = np.maximum(lower, -((-work * s) // (d * r)))
        return ints.astype(np.float64), a, lower.astype(np.int64)
    exact_volumes = [exact(v) for v in volumes]
    if any(v < 0 for v in exact_volumes):
        raise ValueError("volumes must be >= 0")
    a_exact = [v * aht / interval_s for v in exact_volumes]
    a = np.array([float(x) for x in a_exact], dtype=np.float64)
    vol = np.array([float(v) for v in exact_volumes], dtype=np.float64)
    lower = np.array([minimum_agents(x, target, model) for x in a_exact], dtype=np.int64)
    return vol, a, lower


def staff_intervals(
    volumes: Sequence[Number],
    *,
    aht_s: Number,
    interval_minutes: int,
    target: Target,
    shrinkage: Number = 0,
    model: Model = "erlang-c",
    patience_s: float | None = None,
) -> StaffingTable:
    """Staff every interval of a volume series (one queue, one AHT)."""
    if interval_minutes <= 0:
        raise ValueError("interval_minutes must be > 0")
    interval_s = interval_minutes * 60
    aht_exact = exact(aht_s)
    aht = float(aht_exact)
    if aht <= 0:
        raise ValueError("aht_s must be > 0")
    vol, a, lower = _traffic_and_bounds(volumes, aht_exact, interval_s, target, model)
    if model == "erlang-c":
        agents, sl, asa, pw = _erlang_c_vector(lower, a, aht, target)
        occ = np.divide(a, agents, out=np.zeros_like(a), where=agents > 0)
        abandon = None
    else:
        if patience_s is None:
            raise ValueError("Erlang A needs a mean patience (patience_s)")
        k = _erlang_a_vector(lower, a, aht, patience_s, target)
        agents, sl, asa, occ, pw = k.agents, k.service_level, k.asa_s, k.occupancy, k.p_wait
        abandon = k.abandon_rate
    return StaffingTable(
        volume=vol,
        traffic_erlangs=a,
        agents=agents,
        agents_with_shrinkage=with_shrinkage_array(agents, shrinkage),
        service_level=sl,
        asa_s=asa,
        occupancy=occ,
        abandon_rate=abandon,
        p_wait=pw,
        interval_s=interval_s,
    )


@dataclass(frozen=True, slots=True)
class PeriodSummary:
    """Totals of a run of intervals (a day, a week, a year).

    Service level, ASA and abandonment are volume-weighted; occupancy is total
    workload over total productive agent time.
    """

    label: str
    volume: float
    workload_hours: float
    agent_hours: float
    scheduled_hours: float
    service_level: float
    asa_s: float
    abandon_rate: float
    occupancy: float
    peak_agents: int


def summarize(table: StaffingTable, labels: Sequence[str]) -> list[PeriodSummary]:
    """Group intervals by ``labels`` (e.g. the date, ISO week or year of each interval)."""
    if len(labels) != len(table.volume):
        raise ValueError("one label per interval is needed")
    hours = table.interval_s / 3600
    out: list[PeriodSummary] = []
    keys = np.asarray(labels)
    for label in dict.fromkeys(labels):
        m = keys == label
        vol = table.volume[m]
        total = float(vol.sum())
        weights = vol / total if total else np.full(int(m.sum()), 1.0 / max(1, int(m.sum())))
        agent_h = float(table.agents[m].sum() * hours)
        work_h = float(table.traffic_erlangs[m].sum() * hours)
        aband = table.abandon_rate[m] if table.abandon_rate is not None else np.zeros(int(m.sum()))
        out.append(
            PeriodSummary(
                label=str(label),
                volume=total,
                workload_hours=work_h,
                agent_hours=agent_h,
                scheduled_hours=float(table.agents_with_shrinkage[m].sum() * hours),
                service_level=float((weights * table.service_level[m]).sum()),
                asa_s=float((weights * table.asa_s[m]).sum()),
                abandon_rate=float((weights * aband).sum()),
                occupancy=work_h / agent_h if agent_h else 0.0,
                peak_agents=int(table.agents[m].max(initial=0)),
            )
        )
    return out
