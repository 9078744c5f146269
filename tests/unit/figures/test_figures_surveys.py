"""NPS and CSAT: the scales, the survey token, and how answers fold into the figures."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tsunagi.domain.errors import InvalidInputError
from tsunagi.domain.events import Event
from tsunagi.figures.definitions import (
    AGENT_MAXES,
    AGENT_SUMS,
    CONTACT_MAXES,
    CONTACT_SUMS,
    SURVEY_SUMS,
    FigureOptions,
    Measures,
    add_into,
    agent_figures,
    contact_figures,
    survey_figures,
)
from tsunagi.figures.intervals import interval_start
from tsunagi.figures.surveys import (
    SurveyAnsweredEvent,
    SurveyExpiredError,
    SurveySettings,
    SurveyTokenError,
    check_scores,
    encode_token,
    invitation,
    mac_matches,
    read_token,
    survey_measures,
    survey_settings,
)
from tsunagi.web.figures.charts import HEIGHT, PAD_BOTTOM, PAD_TOP, score_chart
from unit.figures.figures_events import AIKO, BUNTA, QUEUE, TENANT, Story, at
from unit.figures.test_figures_fold import fold, fold_in_batches, random_day

NPS_SCORES = [10, 10, 9, 9, 9, 8, 7, 6, 3, 0]  # 5 promoters, 2 passives, 3 detractors
CSAT_SCORES = [5, 5, 4, 4, 3, 2, 1, 5, 4, 3]  # 6 satisfied (4-5), sum 36


def answered(
    story: Story | uuid.UUID,
    when: datetime,
    *,
    nps: int | None = None,
    csat: int | None = None,
    channel: str = "chat",
) -> SurveyAnsweredEvent:
    contact_id = story if isinstance(story, uuid.UUID) else story.contact_id
    return SurveyAnsweredEvent(
        tenant_id=TENANT,
        occurred_at=when,
        response_id=uuid.uuid4(),
        contact_id=contact_id,
        channel=channel,
        contact_channel="chat",
        queue_id=QUEUE,
        nps=nps,
        csat=csat,
    )


def chat(agent: uuid.UUID = AIKO, *, end_minute: float = 5) -> Story:
    return (
        Story(channel="chat")
        .created(at(0))
        .queued(at(0))
        .offered(at(0, 2), agent)
        .connected(at(0, 4))
        .ended(at(end_minute))
        .closed(at(end_minute, 30), category="billing", resolved=True)
    )


def totals(rows: dict[tuple[object, ...], Measures], maxes: tuple[str, ...] = ()) -> Measures:
    summed: Measures = {}
    for measures in rows.values():
        add_into(summed, measures, maxes)
    return summed


# --- the scales, by hand -----------------------------------------------------------------


def test_ten_answers_give_an_exact_nps_and_csat() -> None:
    summed: Measures = {}
    for nps, csat in zip(NPS_SCORES, CSAT_SCORES, strict=True):
        add_into(summed, survey_measures(nps, csat))
    assert summed == {
        "nps_answers": 10,
        "nps_promoters": 5,
        "nps_detractors": 3,
        "csat_answers": 10,
        "csat_satisfied": 6,
        "csat_score_sum": 36,
    }
    figures = survey_figures(summed)
    assert figures["nps"] == 20.0  # 100 · (5 − 3) ÷ 10
    assert figures["csat"] == 0.6
    assert figures["csat_avg"] == 3.6
    assert contact_figures(summed, FigureOptions())["nps"] == 20.0
    assert agent_figures(summed)["csat"] == 0.6


def test_nps_spans_minus_100_to_plus_100_and_no_answers_give_no_figure() -> None:
    assert survey_figures(survey_measures(0, None))["nps"] == -100.0
    assert survey_figures(survey_measures(10, None))["nps"] == 100.0
    assert survey_figures(survey_measures(7, None))["nps"] == 0.0  # a passive
    empty = survey_figures({})
    assert empty["nps"] is None and empty["csat"] is None and empty["csat_avg"] is None
    only_csat = survey_figures(survey_measures(None, 4))
    assert only_csat["nps"] is None and only_csat["csat"] == 1.0


def test_the_boundaries_of_promoters_detractors_and_satisfied() -> None:
    assert survey_measures(9, None)["nps_promoters"] == 1
    assert survey_measures(8, None)["nps_promoters"] == 0
    assert survey_measures(6, None)["nps_detractors"] == 1
    assert survey_measures(7, None)["nps_detractors"] == 0
    assert survey_measures(None, 4)["csat_satisfied"] == 1
    assert survey_measures(None, 3)["csat_satisfied"] == 0


@pytest.mark.parametrize(
    ("nps", "csat", "questions", "field"),
    [
        (11, None, "both", "nps"),
        (-1, None, "both", "nps"),
        (None, 0, "both", "csat"),
        (None, 6, "both", "csat"),
        (5, None, "csat", "nps"),
        (None, 3, "nps", "csat"),
        (None, None, "both", "csat"),
    ],
)
def test_bad_scores_are_refused_naming_the_field(
    nps: int | None, csat: int | None, questions: str, field: str
) -> None:
    with pytest.raises(InvalidInputError, match=f"^{field}:"):
        check_scores(nps, csat, questions)  # type: ignore[arg-type]


def test_settings_are_off_by_default_and_checked() -> None:
    assert survey_settings({}).channels == []
    assert survey_settings({"survey": {"channels": ["chat", "sms"]}}).asks("sms")
    with pytest.raises(InvalidInputError, match="channels"):
        survey_settings({"survey": {"channels": ["fax"]}})
    with pytest.raises(InvalidInputError, match="expire_days"):
        SurveySettings(expire_days=0).validated()
    with pytest.raises(InvalidInputError):
        survey_settings({"survey": {"chanels": ["chat"]}})  # unknown field


# --- the token ------------------------------------------------------------------------------

KEY = b"k" * 32


def mac(payload: bytes) -> bytes:
    import hashlib
    import hmac

    return hmac.new(KEY, payload, hashlib.sha256).digest()


def test_a_token_reads_back_and_its_mac_is_checked() -> None:
    now = datetime(2026, 12, 1, 1, 0, 30, 123, tzinfo=UTC)
    invite = invitation(
        tenant_id=TENANT,
        contact_id=uuid.UUID(int=7),
        settings=SurveySettings(questions="csat", expire_days=3),
        channel="sms",
        now=now,
    )
    token = encode_token(invite, mac(invite.payload()))
    assert len(token) == 74 and token.isascii() and "=" not in token
    read, payload, presented = read_token(token)
    assert read == invite
    assert read.expires_at == datetime(2026, 12, 4, 1, 0, 30, tzinfo=UTC)
    assert mac_matches(mac(payload), presented)
    assert not read.expired(now) and read.expired(now + timedelta(days=3))


def test_an_altered_token_does_not_match_its_mac() -> None:
    invite = invitation(
        tenant_id=TENANT,
        contact_id=uuid.UUID(int=7),
        settings=SurveySettings(),
        channel="email",
        now=datetime(2026, 12, 1, tzinfo=UTC),
    )
    token = encode_token(invite, mac(invite.payload()))
    raw = bytearray(token.encode())
    raw[30] = ord("A") if raw[30] != ord("A") else ord("B")  # another contact id
    read, payload, presented = read_token(raw.decode())
    assert read.contact_id != invite.contact_id
    assert not mac_matches(mac(payload), presented)


@pytest.mark.parametrize("token", ["", "not a token", "A" * 74, "é" * 10, "x" * 500])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(SurveyTokenError):
        read_token(token)


def test_expired_and_invalid_are_different_errors() -> None:
    assert not issubclass(SurveyExpiredError, SurveyTokenError)
    assert issubclass(SurveyExpiredError, InvalidInputError)


# --- the fold -------------------------------------------------------------------------------


def test_an_answer_after_the_end_counts_in_the_interval_it_arrived() -> None:
    story = chat()
    result = fold(*story.events, answered(story, at(40), nps=10, csat=5))
    later = interval_start(at(40))
    assert result.contact_rows[(later, QUEUE, "chat", "billing")] == survey_measures(10, 5)
    assert result.agent_rows[(later, AIKO, QUEUE, "chat", "billing")] == survey_measures(10, 5)
    ended_in = result.contact_rows[(interval_start(at(5, 30)), QUEUE, "chat", "billing")]
    assert ended_in["answered"] == 1 and ended_in.get("nps_answers", 0) == 0
    assert result.contacts[story.contact_id].nps == 10


def test_an_answer_before_the_end_waits_for_the_end_and_its_category() -> None:
    story = chat(end_minute=20)
    events: list[Event] = [*story.events]
    events.insert(-1, answered(story, at(20, 10), nps=3))  # in wrap-up, before the close
    partial = fold(*events[:-1])
    assert totals(partial.contact_rows).get("nps_answers", 0) == 0  # not ended: not yet
    result = fold(*events)
    row = result.contact_rows[(interval_start(at(20, 30)), QUEUE, "chat", "billing")]
    assert row["nps_answers"] == 1 and row["nps_detractors"] == 1


def test_the_answer_goes_to_the_communicator_who_closed_a_transferred_contact() -> None:
    story = (
        Story(channel="chat")
        .created(at(0))
        .queued(at(0))
        .offered(at(0, 1), AIKO)
        .connected(at(0, 2))
        .transferred(at(2))
        .offered(at(2, 5), BUNTA)
        .connected(at(2, 10))
        .ended(at(6))
        .closed(at(6, 20), category="delivery")
    )
    result = fold(*story.events, answered(story, at(30), csat=2))
    start = interval_start(at(30))
    assert (start, BUNTA, QUEUE, "chat", "delivery") in result.agent_rows
    assert not any(key[0] == start and key[1] == AIKO for key in result.agent_rows)


def test_a_second_answer_of_the_same_kind_is_not_counted() -> None:
    story = chat()
    result = fold(
        *story.events,
        answered(story, at(40), csat=5),
        answered(story, at(41), csat=1, nps=0),  # csat repeats; nps is new
    )
    summed = totals(result.contact_rows)
    assert summed["csat_answers"] == 1 and summed["csat_score_sum"] == 5
    assert summed["nps_answers"] == 1 and summed["nps_detractors"] == 1


def test_an_answer_for_a_contact_without_events_counts_under_its_own_dimensions() -> None:
    unknown = uuid.uuid4()
    result = fold(answered(unknown, at(3), nps=9))
    assert result.contact_rows == {
        (interval_start(at(3)), QUEUE, "chat", ""): survey_measures(9, None)
    }
    assert result.agent_rows == {}
    assert unknown not in result.contacts  # no record, so it is never "in progress"


# --- properties -----------------------------------------------------------------------------


def with_answers(seed: int, contacts: int) -> tuple[list[Event], list[SurveyAnsweredEvent]]:
    """A random day plus answers for about half the contacts, some before their end."""
    rng = random.Random(seed)
    events = random_day(seed, contacts)
    created = [e.contact_id for e in events if e.type_name() == "contact.created"]  # type: ignore[attr-defined]
    starts = {e.contact_id: e.occurred_at for e in events if e.type_name() == "contact.created"}  # type: ignore[attr-defined]
    answers = []
    for contact_id in created:
        if rng.random() < 0.5:
            nps = rng.choice([None, *range(11)])
            csat = rng.choice([None, 1, 2, 3, 4, 5]) if nps is not None else rng.randint(1, 5)
            when = starts[contact_id] + timedelta(seconds=rng.uniform(0, 1800))
            answers.append(answered(contact_id, when, nps=nps, csat=csat))
    merged: list[Event] = sorted([*events, *answers], key=lambda e: e.occurred_at)
    return merged, answers


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(0, 2_000), max_size=8))
def test_with_answers_batches_give_the_same_rows_as_one_pass(seed: int, cuts: list[int]) -> None:
    events, _answers = with_answers(seed, 40)
    whole = fold(*events)
    parts = fold_in_batches(events, [c % (len(events) + 1) for c in cuts])
    contact_names = (*CONTACT_SUMS, *CONTACT_MAXES)
    assert full(parts.contact_rows, contact_names) == full(whole.contact_rows, contact_names)
    agent_names = (*AGENT_SUMS, *AGENT_MAXES)
    assert full(parts.agent_rows, agent_names) == full(whole.agent_rows, agent_names)


def full(
    rows: dict[tuple[object, ...], Measures], names: tuple[str, ...]
) -> dict[tuple[object, ...], Measures]:
    """Rows with every measure present (as stored: a missing measure is a zero column)."""
    return {key: {n: m.get(n, 0) for n in names} for key, m in rows.items()}


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_survey_sums_over_intervals_equal_the_answers_of_ended_contacts(seed: int) -> None:
    events, answers = with_answers(seed, 50)
    result = fold(*events)
    ended = {record.contact_id for record in result.finished}
    expected: Measures = dict.fromkeys(SURVEY_SUMS, 0)
    for answer in answers:
        if answer.contact_id in ended:
            add_into(expected, survey_measures(answer.nps, answer.csat))
    by_interval = totals(result.contact_rows, CONTACT_MAXES)
    assert {name: by_interval.get(name, 0) for name in SURVEY_SUMS} == expected
    # Every ended contact here was answered by someone, so communicators hold every answer.
    by_agent = totals(result.agent_rows, AGENT_MAXES)
    answered_by_someone: Measures = dict.fromkeys(SURVEY_SUMS, 0)
    for answer in answers:
        record = result.contacts[answer.contact_id]
        if answer.contact_id in ended and record.segments:
            add_into(answered_by_someone, survey_measures(answer.nps, answer.csat))
    assert {name: by_agent.get(name, 0) for name in SURVEY_SUMS} == answered_by_someone


# --- the trend chart ------------------------------------------------------------------------


def test_the_score_chart_puts_nps_and_csat_on_one_scale_with_gaps() -> None:
    chart = score_chart(
        ["2026-12-01", "2026-12-02", "2026-12-03"], [100.0, None, -100.0], [1.0, 0.5, None]
    )
    top, bottom = PAD_TOP, HEIGHT - PAD_BOTTOM
    nps_y = [float(point.split(",")[1]) for point in chart.line.split()]
    csat_y = [float(point.split(",")[1]) for point in chart.line2.split()]
    assert nps_y == [top, bottom]  # +100 at the top, −100 at the bottom, the gap left out
    assert csat_y == [top, top + (bottom - top) / 4]  # 100 % and 50 %
    assert chart.zero == (top + bottom) / 2 and not chart.empty
    assert [t.text for t in chart.y_ticks] == ["-100", "0", "+100"]
    assert score_chart(["2026-12-01"], [None], [None]).empty
