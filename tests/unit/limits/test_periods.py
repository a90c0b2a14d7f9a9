from datetime import UTC, datetime, timedelta

import pytest

from quotaflow.limits.periods import add_duration, current_period, parse_duration

ANCHOR = datetime(2025, 1, 31, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds", "months"),
    [
        ("30s", 30, 0),
        ("15m", 900, 0),
        ("1h", 3600, 0),
        ("1d", 86400, 0),
        ("7d", 604800, 0),
        ("2w", 1209600, 0),
        ("1mo", 0, 1),
        (" 3mo ", 0, 3),
    ],
)
def test_parse_duration(text, seconds, months):
    duration = parse_duration(text)
    assert (duration.seconds, duration.months) == (seconds, months)


@pytest.mark.parametrize("text", ["", "0d", "1y", "d", "1.5h", "-1d", "1 d", "mo"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_fixed_periods_count_from_the_anchor():
    thirty = parse_duration("30s")
    at = ANCHOR + timedelta(seconds=95)
    period = current_period(ANCHOR, thirty, at)
    assert period.start == ANCHOR + timedelta(seconds=90)
    assert period.end == ANCHOR + timedelta(seconds=120)
    exactly = current_period(ANCHOR, thirty, ANCHOR + timedelta(seconds=120))
    assert exactly.start == ANCHOR + timedelta(seconds=120)
    assert current_period(ANCHOR, thirty, ANCHOR).start == ANCHOR


def test_month_periods_clamp_the_day():
    month = parse_duration("1mo")
    feb = current_period(ANCHOR, month, datetime(2025, 3, 1, tzinfo=UTC))
    assert feb.start == datetime(2025, 2, 28, 10, 30, tzinfo=UTC)
    assert feb.end == datetime(2025, 3, 31, 10, 30, tzinfo=UTC)
    before = current_period(ANCHOR, month, datetime(2025, 3, 31, 10, 29, tzinfo=UTC))
    assert before.start == feb.start
    march = current_period(ANCHOR, month, datetime(2025, 3, 31, 10, 30, tzinfo=UTC))
    assert march.start == datetime(2025, 3, 31, 10, 30, tzinfo=UTC)
    year = current_period(ANCHOR, parse_duration("12mo"), datetime(2026, 5, 1, tzinfo=UTC))
    assert year.start == datetime(2026, 1, 31, 10, 30, tzinfo=UTC)


def test_no_duration_is_one_endless_period():
    period = current_period(ANCHOR, None, ANCHOR + timedelta(days=400))
    assert (period.start, period.end) == (ANCHOR, None)
    assert period.start_s == int(ANCHOR.timestamp())


def test_add_duration():
    assert add_duration(ANCHOR, parse_duration("1mo")) == datetime(2025, 2, 28, 10, 30, tzinfo=UTC)
    assert add_duration(ANCHOR, parse_duration("1h"), 2) == ANCHOR + timedelta(hours=2)
