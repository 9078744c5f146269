"""Calibrate simulator inputs from per-call history and compare KPIs with the record.

Input is a call table (pandas) with one row per call offered to the agents:

* ``day`` (date), ``queue`` (str), ``arrival_s`` (seconds after midnight when
  the call joined the queue), ``wait_s`` (seconds in queue until answer or
  hang-up), ``answered`` (bool), ``service_s`` (handle seconds, answered calls),
  ``server`` (agent name of answered calls, else empty).

Fits:

* **Patience** - exponential, by maximum likelihood with right censoring: a
  caller who was answered after waiting *w* shows only that patience > *w*, so
  ``mean = sum(all waits) / number of abandonments`` (Brown et al. 2005 use the
  same censoring argument; Mandelbaum & Zeltyn fit Erlang A this way).
* **Handle time** - lognormal with the sample mean and coefficient of
  variation (Brown et al. 2005 found service times of this center lognormal).
* **After-call work** - absent from the log; a constant is chosen so that
  replayed days of the fitting month match their recorded abandonment.
* **Staffing** - per interval and agent group, the number of distinct agents
  who served at least one call overlapping the interval: the log has no
  sign-in records, so this is the best proxy (it undercounts idle agents).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tsunagi.sim.engine import Kpis
from tsunagi.sim.scenario import AgentGroup, Distribution, QueueSpec, Scenario


def _clock_seconds(clock: pd.Series) -> pd.Series:
    parts = clock.str.split(":", expand=True).astype(int)
    return parts[0] * 3600 + parts[1] * 60 + parts[2]


def anonymous_bank_calls(raw: pd.DataFrame, *, opens_s: int = 7 * 3600) -> pd.DataFrame:
    """The call table from the Technion "Anonymous Bank" log (all columns read as text).

    Keeps calls that reached the agents (answered, or abandoned in the queue; hang-ups
    inside the VRU never queued), drops PHANTOM rows, calls before ``opens_s`` and the
    few with a queue time over an hour (midnight roll-over). Internet-support calls
    (type ``IN``) form the ``internet`` queue, all others ``retail``.
    """
    raw = raw[raw["outcome"].isin(["AGENT", "HANG"])]
    queued = raw["q_start"] != "0:00:00"
    raw = raw[(raw["outcome"] == "AGENT") | queued]
    queued = raw["q_start"] != "0:00:00"
    answered = raw["outcome"] == "AGENT"
    arrival = np.where(queued, _clock_seconds(raw["q_start"]), _clock_seconds(raw["vru_exit"]))
    calls = pd.DataFrame(
        {
            "day": pd.to_datetime("19" + raw["date"], format="%Y%m%d").dt.date,
            "queue": np.where(raw["type"] == "IN", "internet", "retail"),
            "arrival_s": arrival,
            "wait_s": pd.to_numeric(raw["q_time"]).clip(lower=0),
            "answered": answered.to_numpy(),
            "service_s": pd.to_numeric(raw["ser_time"]).where(answered, 0),
            "server": raw["server"].where(answered, ""),
        }
    )
    return calls[(calls["arrival_s"] >= opens_s) & (calls["wait_s"] < 3600)]


def fit_patience(wait_s: np.ndarray, answered: np.ndarray) -> Distribution:
    """Exponential patience by censored maximum likelihood."""
    abandons = int((~answered).sum())
    if abandons == 0:
        raise ValueError("no abandonment in the data: patience cannot be estimated")
    return Distribution("exponential", float(wait_s.sum() / abandons))


def fit_handle_time(service_s: np.ndarray) -> Distribution:
    """Lognormal handle time with the sample mean and coefficient of variation."""
    values = service_s[service_s > 0]
    if len(values) < 2:
        raise ValueError("too few served calls to fit a handle-time distribution")
    mean = float(values.mean())
    return Distribution("lognormal", mean, float(values.std(ddof=1) / mean))


NO_SERVER = "NO_SERVER"  # the log's placeholder for a call answered by no named agent
MIN_SKILL_CALLS = 10


@dataclass(frozen=True, slots=True)
class Calibration:
    handle_time: dict[str, Distribution]
    patience: dict[str, Distribution]
    server_groups: dict[str, str]  # agent name -> group name
    group_skills: dict[str, dict[str, int]]
    after_call_work_s: float = 0.0  # not in the log: fitted by replaying known days

    def with_after_call_work(self, seconds: float) -> Calibration:
        return Calibration(
            self.handle_time, self.patience, self.server_groups, self.group_skills, seconds
        )


def calibrate(calls: pd.DataFrame) -> Calibration:
    """Fit distributions per queue and put each agent in the group of the queues it served.

    An agent has a queue's skill when it answered at least ``MIN_SKILL_CALLS``
    calls of that queue, or a tenth of its calls.
    """
    handle: dict[str, Distribution] = {}
    patience: dict[str, Distribution] = {}
    for queue, rows in calls.groupby("queue"):
        answered = rows["answered"].to_numpy(dtype=bool)
        handle[str(queue)] = fit_handle_time(rows.loc[rows["answered"], "service_s"].to_numpy())
        if (~answered).any():  # a queue nobody left gets no patience (callers wait forever)
            patience[str(queue)] = fit_patience(rows["wait_s"].to_numpy(dtype=float), answered)
    served = calls[calls["answered"] & (calls["server"] != NO_SERVER)]
    counts = pd.crosstab(served["server"], served["queue"])
    groups: dict[str, str] = {}
    skills: dict[str, dict[str, int]] = {}
    for server, row in counts.iterrows():
        total = int(row.sum())
        queues = sorted(str(q) for q, n in row.items() if n >= MIN_SKILL_CALLS or n >= 0.1 * total)
        name = "+".join(queues)
        groups[str(server)] = name
        skills[name] = dict.fromkeys(queues, 1)
    return Calibration(handle, patience, groups, skills)


def day_scenario(
    calls: pd.DataFrame,
    cal: Calibration,
    *,
    interval_minutes: int = 30,
    service_seconds: float = 20,
    open_s: tuple[int, int] = (7 * 3600, 24 * 3600),
) -> Scenario:
    """A scenario replaying one day's interval arrival counts and observed staffing."""
    length = interval_minutes * 60
    edges = np.arange(open_s[0], open_s[1] + length, length)
    n = len(edges) - 1
    queues = []
    for queue in sorted(cal.handle_time):
        rows = calls[calls["queue"] == queue]
        counts, _ = np.histogram(rows["arrival_s"], bins=edges)
        queues.append(
            QueueSpec(
                queue,
                [float(c) for c in counts],
                cal.handle_time[queue],
                after_call_work=Distribution("constant", cal.after_call_work_s),
                patience=cal.patience.get(queue),
            )
        )
    staffing = observed_staffing(calls, cal.server_groups, edges)
    groups = [
        AgentGroup(name, cal.group_skills[name], staffing.get(name, [0] * n))
        for name in sorted(cal.group_skills)
    ]
    return Scenario(
        queues=queues,
        agent_groups=groups,
        interval_minutes=interval_minutes,
        service_seconds=service_seconds,
    )


def observed_staffing(
    calls: pd.DataFrame, server_groups: Mapping[str, str], edges: np.ndarray
) -> dict[str, list[int]]:
    """Distinct agents per group with a service overlapping each interval."""
    served = calls[calls["answered"]]
    start = (served["arrival_s"] + served["wait_s"]).to_numpy(dtype=float)
    end = start + served["service_s"].to_numpy(dtype=float)
    names = served["server"].to_numpy()
    out: dict[str, list[set[str]]] = {}
    for s, e, name in zip(start, end, names, strict=True):
        group = server_groups.get(str(name))
        if group is None:
            continue
        slots = out.setdefault(group, [set() for _ in range(len(edges) - 1)])
        first = max(0, int(np.searchsorted(edges, s, side="right")) - 1)
        last = min(len(edges) - 2, int(np.searchsorted(edges, e, side="left")) - 1)
        for i in range(first, last + 1):
            slots[i].add(str(name))
    return {g: [len(s) for s in slots] for g, slots in out.items()}


def recorded_kpis(calls: pd.DataFrame, service_seconds: float = 20) -> Kpis:
    """The same KPIs as the simulator reports, computed from the record."""
    answered = calls["answered"].to_numpy(dtype=bool)
    wait = calls["wait_s"].to_numpy(dtype=float)
    return Kpis.of(
        offered=len(calls),
        answered=int(answered.sum()),
        abandoned=int((~answered).sum()),
        within=int((answered & (wait <= service_seconds)).sum()),
        waited=int((wait > 0).sum()),
        wait_sum=float(wait[answered].sum()),
    )
