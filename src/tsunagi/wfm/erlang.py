"""Erlang B, Erlang C (M/M/n) and Erlang A (M/M/n+M) queue formulas.

Notation: ``a`` is the offered traffic in Erlangs (arrival rate x mean handle
time), ``n`` the number of agents, ``aht_s`` the mean handle time and, for
Erlang A, ``patience_s`` the mean (exponential) patience of callers.

Everything is computed in log space so that no factorial or power is ever
formed: traffic of 100,000 Erlangs and more evaluates without overflow.

* Erlang B: ``B(n, a) = pmf(n; a) / cdf(n; a)`` of a Poisson(a) variable, with
  the cdf from the regularised incomplete gamma function (SciPy ``pdtr``) when
  ``n >= a`` and from the convergent series ``1/B = sum_i prod_{m<i} (n-m)/a``
  when ``n < a`` (where the cdf may underflow).
* Erlang C (Erlang 1917; see e.g. Gans, Koole & Mandelbaum 2003, section 4.1):
  ``C = n B / (n - a (1 - B))``, ``SL(T) = 1 - C exp(-(n - a) T / aht)``,
  ``ASA = C aht / (n - a)``; defined for ``n > a``.
* Erlang A (Palm 1943; Mandelbaum & Zeltyn, "The Palm/Erlang-A queue, with
  applications to call centers", 2007): with ``x = n patience/aht`` and
  ``y = lambda patience``, ``J = sum_j y^j / ((x+1)...(x+j)) = x e^y y^-x
  gamma(x, y)``, ``P(W>0) = J B / (1 + (J - 1) B)``. The offered wait ``V`` has
  density ``f(t) = P(W>0) theta (y e^{-theta t})^x e^{-y e^{-theta t}} / gamma(x, y)``
  for ``t > 0`` (``theta = 1/patience``), from which the abandonment
  probability, the service level and the mean wait of answered calls follow
  (derivation in docs/architecture/wfm.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import integrate, special

FloatArray = npt.NDArray[np.float64]

_TINY_CDF = 1e-250


@dataclass(frozen=True, slots=True)
class QueueKpis:
    """Steady-state figures of one queue with ``agents`` agents.

    ``service_level`` is the share of *offered* calls answered within the target
    time; ``asa_s`` the mean wait of answered calls; ``abandon_rate`` the share of
    offered calls that abandon (0 for Erlang C); ``occupancy`` the busy share of
    agents' time.
    """

    agents: int
    p_wait: float
    service_level: float
    asa_s: float
    abandon_rate: float
    occupancy: float


def _check_load(n: int, a: float) -> None:
    if n < 0:
        raise ValueError(f"agents must be >= 0, got {n}")
    if not (a >= 0 and math.isfinite(a)):
        raise ValueError(f"traffic must be a finite number >= 0, got {a}")


def log_inverse_erlang_b(n: int, a: float) -> float:
    """``log(1 / B(n, a))`` without overflow for any ``n`` and ``a > 0``."""
    _check_load(n, a)
    if a == 0:
        return math.inf if n > 0 else 0.0
    if n == 0:
        return 0.0
    if n >= a:
        cdf = float(special.pdtr(n, a))
        log_pmf = n * math.log(a) - a - math.lgamma(n + 1)
        return math.log(cdf) - log_pmf
    # n < a: 1/B = sum_{i=0}^{n} prod_{m<i} (n - m) / a, terms shrink geometrically.
    total = 0.0
    log_term = 0.0
    chunk = 4096
    start = 0
    while start <= n:
        m = np.arange(start, min(n, start + chunk - 1) + 1, dtype=np.float64)
        logs = log_term + np.concatenate(([0.0], np.cumsum(np.log((n - m[:-1]) / a))))
        total += float(np.exp(logs).sum())
        log_term = float(logs[-1]) + math.log((n - m[-1]) / a) if m[-1] < n else -math.inf
        if log_term < math.log(total) - 40:
            break
        start += chunk
    return math.log(total)


def erlang_b(n: int, a: float) -> float:
    """Blocking probability of an M/M/n/n loss system (Erlang B)."""
    return math.exp(-log_inverse_erlang_b(n, a))


def erlang_b_array(n: npt.NDArray[np.int64], a: FloatArray) -> FloatArray:
    """Vectorised Erlang B for ``n > a > 0`` element-wise (the staffing fast path)."""
    nf = n.astype(np.float64)
    log_pmf = nf * np.log(a) - a - special.gammaln(nf + 1)
    return np.asarray(np.exp(log_pmf - np.log(special.pdtr(nf, a))), dtype=np.float64)


def erlang_c_array(n: npt.NDArray[np.int64], a: FloatArray) -> FloatArray:
    """Vectorised probability of waiting, ``n > a > 0`` element-wise."""
    b = erlang_b_array(n, a)
    nf = n.astype(np.float64)
    return np.asarray(nf * b / (nf - a * (1.0 - b)), dtype=np.float64)


def erlang_c(n: int, a: float) -> float:
    """Probability that a call waits in M/M/n (1 when ``n <= a``: unstable)."""
    _check_load(n, a)
    if a == 0:
        return 0.0
    if n <= a:
        return 1.0
    b = erlang_b(n, a)
    return n * b / (n - a * (1.0 - b))


def erlang_c_kpis(n: int, a: float, aht_s: float, target_s: float) -> QueueKpis:
    """Erlang C figures; an unstable queue (``n <= a``) gets SL 0 and infinite ASA."""
    _check_load(n, a)
    if aht_s <= 0:
        raise ValueError("aht_s must be > 0")
    if a == 0:
        return QueueKpis(n, 0.0, 1.0, 0.0, 0.0, 0.0)
    if n <= a:
        return QueueKpis(n, 1.0, 0.0, math.inf, 0.0, 1.0)
    c = erlang_c(n, a)
    sl = 1.0 - c * math.exp(-(n - a) * target_s / aht_s)
    return QueueKpis(n, c, sl, c * aht_s / (n - a), 0.0, a / n)


def log_lower_gamma(s: float, z: float) -> float:
    """``log gamma(s, z)`` (lower incomplete gamma, not regularised), ``s > 0``."""
    if z <= 0:
        return -math.inf
    p = float(special.gammainc(s, z))
    if p > _TINY_CDF:
        return math.lgamma(s) + math.log(p)
    # Far left tail (z << s): gamma(s, z) = z^s e^-z sum_k z^k / (s (s+1) ... (s+k)).
    total, term, k = 0.0, 1.0 / s, 0
    while term > total * 1e-17:
        total += term
        k += 1
        term *= z / (s + k)
    return s * math.log(z) - z + math.log(total)


@dataclass(frozen=True, slots=True)
class _ErlangAParts:
    log_p_wait: float
    log_x: float  # log of gamma(x, y), the normaliser of the wait density
    x: float
    y: float
    theta: float


def _erlang_a_parts(n: int, rate_per_s: float, aht_s: float, patience_s: float) -> _ErlangAParts:
    theta = 1.0 / patience_s
    x = n * patience_s / aht_s
    y = rate_per_s * patience_s
    a = rate_per_s * aht_s
    lg = log_lower_gamma(x, y)
    log_j = math.log(x) + y - x * math.log(y) + lg
    log_inv_b = log_inverse_erlang_b(n, a)
    # P(W>0) = J / (1/B + J - 1), evaluated as a ratio of logs.
    denom = np.logaddexp(log_inv_b, log_j)
    denom = float(denom + math.log1p(-math.exp(-denom)))
    return _ErlangAParts(log_j - denom, lg, x, y, theta)


def erlang_a_kpis(
    n: int,
    rate_per_s: float,
    aht_s: float,
    patience_s: float,
    target_s: float,
    *,
    with_asa: bool = True,
) -> QueueKpis:
    """Erlang A (M/M/n+M) figures: exponential handle time and patience, FCFS.

    ``service_level`` = P(answered within ``target_s``) over offered calls;
    ``asa_s`` = mean wait of answered calls; ``abandon_rate`` = P(abandon).
    The ASA needs a numerical integral (most of the cost); ``with_asa=False``
    skips it and reports ``nan`` (used inside staffing searches without an ASA target).
    """
    if aht_s <= 0 or patience_s <= 0:
        raise ValueError("aht_s and patience_s must be > 0")
    a = rate_per_s * aht_s
    _check_load(n, a)
    if rate_per_s == 0:
        return QueueKpis(n, 0.0, 1.0, 0.0, 0.0, 0.0)
    if n == 0:
        return QueueKpis(0, 1.0, 0.0, math.inf, 1.0, 0.0)
    parts = _erlang_a_parts(n, rate_per_s, aht_s, patience_s)
    x, y, theta = parts.x, parts.y, parts.theta
    p_wait = math.exp(parts.log_p_wait)
    log_scale = parts.log_p_wait - parts.log_x - math.log(y)
    # P(served after waiting) = P(W>0) gamma(x+1, y) / (y gamma(x, y)).
    lg_full = log_lower_gamma(x + 1, y)
    served_waiting = math.exp(log_scale + lg_full)
    lg_target = log_lower_gamma(x + 1, y * math.exp(-theta * target_s))
    within = served_waiting * -math.expm1(lg_target - lg_full)
    p_abandon = min(1.0, max(0.0, p_wait - served_waiting))
    served = 1.0 - p_abandon
    sl = (1.0 - p_wait) + within
    if not with_asa:
        asa = math.nan
    elif served > 0:
        asa = _mean_wait_of_served(parts, served_waiting) / served
    else:
        asa = math.inf
    occupancy = min(1.0, a * served / n)
    return QueueKpis(n, p_wait, sl, asa, p_abandon, occupancy)


def _mean_wait_of_served(parts: _ErlangAParts, served_waiting: float) -> float:
    """``E[V; V < patience]`` for the offered wait ``V``.

    With ``u = y e^{-theta t}`` the integral of ``t e^{-theta t} f_V(t)`` becomes
    ``served_waiting / theta * E[log(y / U)]`` where ``U`` has density
    ``u^x e^{-u} / gamma(x+1, y)`` on ``(0, y]``: a smooth, unimodal integrand.
    """
    x, y, theta = parts.x, parts.y, parts.theta
    log_norm = log_lower_gamma(x + 1, y)

    def integrand(u: float) -> float:
        if u <= 0:
            return 0.0
        return math.log(y / u) * math.exp(x * math.log(u) - u - log_norm)

    mode = min(x, y)
    width = 60.0 * math.sqrt(x + 1.0) + 60.0
    if y < x:
        width = min(width, 60.0 / (x / y - 1.0) + 60.0)
    lower = max(0.0, mode - width)
    inner = [p for p in (mode - width / 60, mode) if lower < p < y]
    value = float(integrate.quad(integrand, lower, y, points=inner or None, limit=500)[0])
    return served_waiting / theta * value


# ------------------------------------------------------------------ Erlang A, vectorised

IntArray = npt.NDArray[np.int64]


def log_inverse_erlang_b_array(n: IntArray, a: FloatArray) -> FloatArray:
    """Element-wise :func:`log_inverse_erlang_b` for ``n >= 1``, ``a > 0``.

    ``log(1/B) = log cdf(n; a) - log pmf(n; a)``; the Poisson cdf (SciPy ``pdtr``) keeps
    its relative accuracy in the left tail, so this holds for ``n < a`` too until the cdf
    underflows; those few elements (``n`` far below ``a``) take the scalar series.
    """
    nf = n.astype(np.float64)
    cdf = special.pdtr(nf, a)
    out = np.empty_like(a)
    ok = cdf > _TINY_CDF
    log_pmf = nf[ok] * np.log(a[ok]) - a[ok] - special.gammaln(nf[ok] + 1)
    out[ok] = np.log(cdf[ok]) - log_pmf
    for i in np.flatnonzero(~ok):
        out[i] = log_inverse_erlang_b(int(n[i]), float(a[i]))
    return out


def log_lower_gamma_array(s: FloatArray, z: FloatArray) -> FloatArray:
    """Element-wise :func:`log_lower_gamma`; the far left tail takes the scalar series."""
    p = special.gammainc(s, z)
    out = np.empty_like(s)
    ok = p > _TINY_CDF
    out[ok] = special.gammaln(s[ok]) + np.log(p[ok])
    for i in np.flatnonzero(~ok):
        out[i] = log_lower_gamma(float(s[i]), float(z[i]))
    return out


def _log_regularised(s: FloatArray, z: FloatArray) -> FloatArray:
    """``log P(s, z)``: the regularised lower incomplete gamma, as a log."""
    return np.asarray(log_lower_gamma_array(s, z) - special.gammaln(s), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class QueueKpisArray:
    """:class:`QueueKpis` of many intervals (one entry each)."""

    agents: IntArray
    p_wait: FloatArray
    service_level: FloatArray
    asa_s: FloatArray
    abandon_rate: FloatArray
    occupancy: FloatArray


def erlang_a_array(
    n: IntArray,
    rate_per_s: FloatArray,
    aht_s: float,
    patience_s: float,
    target_s: float,
    *,
    with_asa: bool = True,
) -> QueueKpisArray:
    """Element-wise :func:`erlang_a_kpis` (same formulas, NumPy/SciPy on whole arrays).

    Needs ``n >= 1`` and ``rate_per_s > 0`` everywhere. The mean wait of answered calls,
    ``served_waiting/theta * E[log(y/U)]`` (see :func:`_mean_wait_of_served`), uses
    ``E[log U] = d/ds log gamma(s, y)`` at ``s = x + 1``: ``psi(s)`` plus the derivative of
    ``log P(s, y)``, taken by a five-point central difference with step ``1e-3 sqrt(s)``
    (``log P`` varies on the scale ``sqrt(s)``; its rounding error is ~1e-15 absolute),
    instead of one numerical integral per interval.
    """
    if aht_s <= 0 or patience_s <= 0:
        raise ValueError("aht_s and patience_s must be > 0")
    nf = n.astype(np.float64)
    theta = 1.0 / patience_s
    x = nf * patience_s / aht_s
    y = rate_per_s * patience_s
    a = rate_per_s * aht_s
    lg = log_lower_gamma_array(x, y)
    log_j = np.log(x) + y - x * np.log(y) + lg
    denom = np.logaddexp(log_inverse_erlang_b_array(n, a), log_j)
    denom = denom + np.log1p(-np.exp(-denom))
    log_p_wait = log_j - denom
    p_wait = np.exp(log_p_wait)
    lg_full = log_lower_gamma_array(x + 1, y)
    served_waiting = np.exp(log_p_wait - lg - np.log(y) + lg_full)
    lg_target = log_lower_gamma_array(x + 1, y * math.exp(-theta * target_s))
    within = served_waiting * -np.expm1(lg_target - lg_full)
    p_abandon = np.clip(p_wait - served_waiting, 0.0, 1.0)
    served = 1.0 - p_abandon
    sl = (1.0 - p_wait) + within
    if with_asa:
        s = x + 1
        h = 1e-3 * np.sqrt(s)
        f = [_log_regularised(s + k * h, y) for k in (-2, -1, 1, 2)]
        slope = (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h)
        mean_log_ratio = np.maximum(np.log(y) - special.digamma(s) - slope, 0.0)
        asa = np.divide(
            served_waiting / theta * mean_log_ratio,
            served,
            out=np.full_like(served, math.inf),
            where=served > 0,
        )
    else:
        asa = np.full_like(p_wait, math.nan)
    occupancy = np.minimum(1.0, a * served / nf)
    return QueueKpisArray(n, p_wait, sl, asa, p_abandon, occupancy)
