"""The capacity of a booking slot: Erlang C staffing of the forecast, spare agents, a share."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tsunagi.channels.booking import CapacityInput, slot_capacity
from tsunagi.domain.errors import InvalidInputError


def capacity(**overrides: object) -> int:
    values: dict[str, object] = {
        "inbound_volume": 100,
        "inbound_aht_s": 180,
        "planned_agents": 20,
        "slot_minutes": 30,
        "callback_handle_s": 180,
        "spare_share": 0.5,
    }
    values.update(overrides)
    return slot_capacity(CapacityInput(**values)).seats  # type: ignore[arg-type]


def test_call_centre_helper_example() -> None:
    """100 calls in 30 minutes at 180 s is 10 Erlangs; 80 % in 20 s needs 14 agents
    (13 give 79.6 %). Twenty planned leave 6 spare: half their 1,800 s is 30 callbacks."""
    result = slot_capacity(
        CapacityInput(
            inbound_volume=100,
            inbound_aht_s=180,
            planned_agents=20,
            slot_minutes=30,
            callback_handle_s=180,
            spare_share=0.5,
        )
    )
    assert result.offered_erlangs == 10.0
    assert result.required_agents == 14
    assert result.spare_agents == 6
    assert result.seats == 30


def test_a_stricter_target_needs_more_agents_and_leaves_fewer_seats() -> None:
    loose = slot_capacity(CapacityInput(100, 180, 20, 30, 180, 0.5, service_level=Fraction(1, 2)))
    strict = slot_capacity(
        CapacityInput(100, 180, 20, 30, 180, 0.5, service_level=Fraction(95, 100))
    )
    assert loose.required_agents < 14 < strict.required_agents
    assert loose.seats > 30 > strict.seats


def test_no_forecast_volume_leaves_every_agent_spare() -> None:
    assert (
        capacity(inbound_volume=0, planned_agents=4, callback_handle_s=600) == 6
    )  # 0.5·4·1800/600


def test_an_understaffed_slot_takes_no_bookings() -> None:
    assert capacity(planned_agents=14) == 0
    assert capacity(planned_agents=10) == 0
    assert capacity(planned_agents=0, inbound_volume=0) == 0


def test_share_zero_and_cap() -> None:
    assert capacity(spare_share=0) == 0
    assert capacity(max_per_slot=7) == 7
    assert capacity(max_per_slot=0) == 0


def test_the_floor_is_exact() -> None:
    """0.7 · 3 · 1800 / 1260 is exactly 3; in floats it is 2.9999999999999996."""
    assert int(0.7 * 3 * 1800 / 1260) == 2
    assert (
        capacity(inbound_volume=0, planned_agents=3, spare_share=0.7, callback_handle_s=1260) == 3
    )


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        capacity(inbound_volume=-1)
    with pytest.raises(InvalidInputError):
        capacity(callback_handle_s=0)
    with pytest.raises(InvalidInputError):
        capacity(planned_agents=-2)


volumes = st.integers(min_value=0, max_value=400)
agents = st.integers(min_value=0, max_value=80)
shares = st.sampled_from([0, 0.1, 0.25, 0.5, 0.75, 1])
handles = st.integers(min_value=60, max_value=1200)


@given(volume=volumes, more=st.integers(0, 100), n=agents, share=shares, handle=handles)
def test_more_forecast_never_gives_more_seats(
    volume: int, more: int, n: int, share: float, handle: int
) -> None:
    base = capacity(
        inbound_volume=volume, planned_agents=n, spare_share=share, callback_handle_s=handle
    )
    busier = capacity(
        inbound_volume=volume + more, planned_agents=n, spare_share=share, callback_handle_s=handle
    )
    assert busier <= base


@given(volume=volumes, n=agents, extra=st.integers(0, 20), share=shares, handle=handles)
def test_more_agents_never_give_fewer_seats(
    volume: int, n: int, extra: int, share: float, handle: int
) -> None:
    fewer = capacity(
        inbound_volume=volume, planned_agents=n, spare_share=share, callback_handle_s=handle
    )
    more = capacity(
        inbound_volume=volume, planned_agents=n + extra, spare_share=share, callback_handle_s=handle
    )
    assert more >= fewer


@given(
    volume=volumes, n=agents, share=shares, handle=handles, minutes=st.sampled_from([15, 30, 60])
)
def test_seats_fit_in_the_shared_spare_time(
    volume: int, n: int, share: float, handle: int, minutes: int
) -> None:
    result = slot_capacity(CapacityInput(volume, 180, n, minutes, handle, share))
    # Booked work never exceeds the given share of the spare agents' time in the slot...
    assert result.seats * handle <= Fraction(str(share)) * result.spare_agents * minutes * 60
    # ...and one more callback would.
    assert (result.seats + 1) * handle > Fraction(str(share)) * result.spare_agents * minutes * 60
    assert result.spare_agents == max(0, n - result.required_agents)
