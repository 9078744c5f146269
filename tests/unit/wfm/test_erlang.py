"""Erlang B/C/A against published examples and independent computations."""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import linalg

from tsunagi.wfm.erlang import (
    erlang_a_kpis,
    erlang_b,
    erlang_b_array,
    erlang_c,
    erlang_c_kpis,
)


def exact_erlang_b(n: int, a: Fraction) -> Fraction:
    """Erlang B from its definition in rationals: (a^n/n!) / sum_k a^k/k!."""
    terms = [a**k / math.factorial(k) for k in range(n + 1)]
    return terms[-1] / sum(terms)


def exact_erlang_c(n: int, a: Fraction) -> Fraction:
    b = exact_erlang_b(n, a)
    return n * b / (n - a * (1 - b))


def test_call_centre_helper_worked_example() -> None:
    # Call Centre Helper, "Erlang C Formula - Made Simple With an Easy Worked Example":
    # 100 calls / 30 min, AHT 180 s, 80/20 -> 14 agents, P(wait) 17.41 %, SL 88.8 %,
    # ASA 7.8 s, occupancy 71.4 %.
    k = erlang_c_kpis(14, 10.0, 180, 20)
    assert round(k.p_wait, 4) == 0.1741
    assert round(k.service_level, 3) == 0.888
    assert round(k.asa_s, 1) == 7.8
    assert round(k.occupancy, 3) == 0.714
    assert erlang_c_kpis(13, 10.0, 180, 20).service_level < 0.8


@pytest.mark.parametrize("n", [1, 2, 5, 11, 30, 60])
@pytest.mark.parametrize("a", [Fraction(1, 3), Fraction(9, 2), Fraction(10), Fraction(255, 7)])
def test_erlang_b_and_c_match_exact_rationals(n: int, a: Fraction) -> None:
    assert erlang_b(n, float(a)) == pytest.approx(float(exact_erlang_b(n, a)), rel=1e-11)
    if n > a:
        assert erlang_c(n, float(a)) == pytest.approx(float(exact_erlang_c(n, a)), rel=1e-11)


def test_erlang_b_at_100000_erlangs_matches_high_precision() -> None:
    mpmath.mp.dps = 50
    for n, a in [(100_300, 100_000.0), (100_000, 100_000.0), (99_000, 100_000.0)]:
        pmf = mpmath.exp(n * mpmath.log(a) - a - mpmath.loggamma(n + 1))
        cdf = mpmath.gammainc(n + 1, a, mpmath.inf, regularized=True)
        assert erlang_b(n, a) == pytest.approx(float(pmf / cdf), rel=1e-9)
    # Far below the load (the cdf underflows a double): B -> 1 - n/a.
    assert erlang_b(50_000, 100_000.0) == pytest.approx(0.5, rel=1e-4)


def test_vector_and_scalar_erlang_b_agree() -> None:
    n = np.array([12, 101, 100_400], dtype=np.int64)
    a = np.array([10.0, 100.0, 100_000.0])
    got = erlang_b_array(n, a)
    for i in range(3):
        assert got[i] == pytest.approx(erlang_b(int(n[i]), float(a[i])), rel=1e-12)


def test_erlang_c_no_overflow_at_100000_erlangs() -> None:
    k = erlang_c_kpis(100_500, 100_000.0, 300, 20)
    assert 0 < k.p_wait < 1
    assert 0 < k.service_level <= 1
    assert math.isfinite(k.asa_s)


def test_zero_traffic_and_unstable_queue() -> None:
    assert erlang_c_kpis(0, 0.0, 300, 20).service_level == 1.0
    assert erlang_c_kpis(3, 0.0, 300, 20).p_wait == 0.0
    unstable = erlang_c_kpis(10, 10.0, 300, 20)
    assert unstable.service_level == 0.0
    assert unstable.asa_s == math.inf
    assert erlang_a_kpis(5, 0.0, 300, 60, 20).abandon_rate == 0.0


# --- Erlang A against an independent birth-death / phase-type computation -------------


def birth_death_erlang_a(
    n: int, lam: float, mu: float, theta: float, target_s: float, cap: int = 400
) -> tuple[float, float, float]:
    """P(wait), P(abandon) and P(answered within T) of M/M/n+M by brute force.

    The stationary law comes from the truncated birth-death chain; an arrival
    finding j calls queued ahead (PASTA) then moves through a small absorbing
    Markov chain (positions j..0, absorbed in "served" at rate n mu from
    position 0 or in "abandoned" at rate theta); expm gives P(served by T).
    """
    pi = [1.0]
    for k in range(1, cap):
        death = min(k, n) * mu + max(0, k - n) * theta
        pi.append(pi[-1] * lam / death)
    total = sum(pi)
    p = [x / total for x in pi]
    p_wait = sum(p[n:])
    queue_mean = sum((k - n) * p[k] for k in range(n, cap))
    p_abandon = theta * queue_mean / lam
    # P(served by T | arrive with j ahead), for j = 0..J.
    big = 120
    size = big + 2  # positions 0..big-1, served, abandoned
    q = np.zeros((size, size))
    served, gone = big, big + 1
    for pos in range(big):
        advance = n * mu + pos * theta
        if pos == 0:
            q[pos, served] = n * mu
        else:
            q[pos, pos - 1] = advance
        q[pos, gone] = theta
        q[pos, pos] = -(advance + theta)
    trans = linalg.expm(q * target_s)
    within = 1.0 - p_wait
    for j in range(big):
        within += p[n + j] * trans[j, served]
    return p_wait, p_abandon, within


@pytest.mark.parametrize(
    ("n", "calls_per_hour", "aht_s", "patience_s"),
    [(14, 200, 180, 180), (8, 200, 180, 120), (20, 500, 150, 60), (3, 100, 240, 300)],
)
def test_erlang_a_matches_birth_death_chain(
    n: int, calls_per_hour: float, aht_s: float, patience_s: float
) -> None:
    lam = calls_per_hour / 3600
    k = erlang_a_kpis(n, lam, aht_s, patience_s, 20)
    p_wait, p_abandon, within = birth_death_erlang_a(n, lam, 1 / aht_s, 1 / patience_s, 20)
    assert k.p_wait == pytest.approx(p_wait, rel=1e-9)
    assert k.abandon_rate == pytest.approx(p_abandon, rel=1e-8)
    assert k.service_level == pytest.approx(within, rel=1e-8)


def test_erlang_a_mean_wait_reconciles_with_littles_law() -> None:
    # E[wait over all offered calls] = P(abandon) / theta (abandon rate = theta E[Q]).
    # Splitting it into answered and abandoned calls: E[W] = E[W; served] + E[W; abandoned],
    # and E[W; abandoned] = E[min(V, tau); tau < V] is computed by quadrature here.
    from scipy import integrate

    n, lam, aht, pat = 8, 200 / 3600, 180.0, 120.0
    k = erlang_a_kpis(n, lam, aht, pat, 20)
    mean_wait_all = k.abandon_rate * pat
    # Wait of abandoned callers: integral of t * theta e^{-theta t} * P(V > t) dt,
    # with P(V > t) from the birth-death chain and a phase-type position process.
    wait_abandoned = integrate.quad(
        lambda t: t * (1 / pat) * np.exp(-t / pat) * _offered_wait_survival(n, lam, aht, pat, t),
        0,
        40 * pat,
        limit=200,
    )[0]
    served = 1 - k.abandon_rate
    assert k.asa_s * served + wait_abandoned == pytest.approx(mean_wait_all, rel=1e-6)


def _offered_wait_survival(n: int, lam: float, aht: float, pat: float, t: float) -> float:
    """P(V > t): the offered wait is the time the caller's position needs to reach service."""
    mu, theta = 1 / aht, 1 / pat
    pi = [1.0]
    for k in range(1, 400):
        pi.append(pi[-1] * lam / (min(k, n) * mu + max(0, k - n) * theta))
    total = sum(pi)
    p = [x / total for x in pi]
    big = 120
    q = np.zeros((big + 1, big + 1))
    for pos in range(big):
        rate = n * mu + pos * theta
        q[pos, pos] = -rate
        q[pos, pos - 1 if pos else big] = rate
    trans = linalg.expm(q * t)
    return float(sum(p[n + j] * (1 - trans[j, big]) for j in range(big)))


def test_erlang_a_tends_to_erlang_c_for_infinite_patience() -> None:
    c = erlang_c_kpis(14, 10.0, 180, 20)
    a = erlang_a_kpis(14, 100 / 1800, 180, 1e9, 20)
    assert a.p_wait == pytest.approx(c.p_wait, rel=1e-6)
    assert a.service_level == pytest.approx(c.service_level, rel=1e-6)
    assert a.asa_s == pytest.approx(c.asa_s, rel=1e-5)


def test_erlang_a_overloaded_100000_erlangs_fluid_limit() -> None:
    # 90,000 agents for 100,000 Erlangs: in the fluid limit a share 1 - n/a abandons.
    k = erlang_a_kpis(90_000, 100_000 / 300, 300, 180, 20)
    assert k.abandon_rate == pytest.approx(0.1, abs=1e-3)
    assert k.occupancy == pytest.approx(1.0, abs=1e-6)


# --- properties --------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(a=st.floats(0.1, 2_000), extra=st.integers(1, 60), t=st.floats(0, 120))
def test_erlang_c_monotone_and_bounded(a: float, extra: int, t: float) -> None:
    n = math.floor(a) + extra
    k0, k1 = erlang_c_kpis(n, a, 300, t), erlang_c_kpis(n + 1, a, 300, t)
    assert 0 <= k1.p_wait <= k0.p_wait <= 1
    assert 0 <= k0.service_level <= k1.service_level <= 1
    assert 0 <= k1.asa_s <= k0.asa_s
    assert 0 < k0.occupancy < 1


@settings(max_examples=40, deadline=None)
@given(
    calls_per_hour=st.floats(1, 3_000),
    n=st.integers(1, 200),
    patience=st.floats(10, 1_000),
)
def test_erlang_a_monotone_and_bounded(calls_per_hour: float, n: int, patience: float) -> None:
    lam = calls_per_hour / 3600
    k0 = erlang_a_kpis(n, lam, 300, patience, 20)
    k1 = erlang_a_kpis(n + 1, lam, 300, patience, 20)
    assert 0 <= k1.p_wait <= k0.p_wait + 1e-12 <= 1 + 1e-12
    assert 0 <= k1.abandon_rate <= k0.abandon_rate + 1e-12 <= 1 + 1e-12
    assert 0 <= k0.service_level <= k1.service_level + 1e-12 <= 1 + 1e-12
    assert 0 <= k0.occupancy <= 1


@pytest.mark.parametrize(
    ("grade", "table"),
    [
        (0.01, {10: 4.46, 20: 12.03, 30: 20.34, 40: 29.01, 50: 37.90, 100: 84.06}),
        (0.02, {10: 5.08, 20: 13.18, 50: 40.25, 100: 87.97}),
    ],
)
def test_erlang_b_reproduces_the_published_table(grade: float, table: dict[int, float]) -> None:
    # The Erlang B table printed in teletraffic handbooks (e.g. ITU-D / Iversen,
    # "Teletraffic Engineering Handbook", Erlang's B-formula table): the traffic in Erlangs
    # that n circuits carry at a blocking of 1 % and 2 %, to two decimals (printed tables
    # round or truncate the last digit). Inverting our formula lands within that digit.
    from scipy.optimize import brentq

    for n, printed in table.items():
        offered = brentq(lambda a, n=n: erlang_b(n, a) - grade, 1e-6, float(n))
        assert abs(offered - printed) <= 0.006, (n, offered)
