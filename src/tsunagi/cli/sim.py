"""``tsunagi sim`` - run a contact-center simulation scenario (see ``tsunagi.sim.scenario``)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tsunagi.sim.engine import Kpis, SimResult, simulate
from tsunagi.sim.scenario import load_scenario


@click.group()
def sim() -> None:
    """Discrete-event simulation of queues, agents and the routing policy."""


@sim.command()
@click.argument("scenario_path", metavar="SCENARIO.json", type=click.Path(path_type=Path))
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option("--intervals", is_flag=True, help="Also show KPIs per interval (text format).")
def run(scenario_path: Path, seed: int, fmt: str, intervals: bool) -> None:
    """Run SCENARIO.json once and print KPIs per queue and for the whole run."""
    try:
        data = scenario_path.read_bytes()
    except OSError as exc:
        raise click.FileError(str(scenario_path), hint=exc.strerror) from exc
    try:
        scenario = load_scenario(data)
    except ValueError as exc:
        raise click.ClickException(f"{scenario_path}: {exc}") from exc
    result = simulate(scenario, seed)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    _text(result, intervals)


def _line(name: str, k: Kpis) -> str:
    occupancy = f" {k.occupancy:>6.1%}" if k.occupancy is not None else ""
    return (
        f"{name:<16} {k.offered:>8} {k.answered:>8} {k.abandoned:>7} {k.service_level:>6.1%}"
        f" {k.asa_s:>7.1f} {k.abandon_rate:>7.1%}{occupancy}"
    )


def _text(result: SimResult, intervals: bool) -> None:
    click.echo(
        f"{'queue':<16} {'offered':>8} {'answered':>8} {'aband.':>7} {'SL':>6}"
        f" {'ASA s':>7} {'aband%':>7} {'occ.':>6}"
    )
    for name, kpis in zip(result.queues, result.by_queue, strict=True):
        click.echo(_line(name, kpis))
    click.echo(_line("all", result.total))
    if intervals:
        for q, name in enumerate(result.queues):
            click.echo(f"\n{name}, by interval:")
            for i, kpis in enumerate(result.by_interval[q]):
                click.echo(_line(f"  #{i}", kpis) + f"  occ {result.occupancy_by_interval[i]:.1%}")
