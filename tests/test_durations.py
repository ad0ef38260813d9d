"""Durations as the CLI takes them (--expires 90d, --grace 24h)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flaregate.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    "text, expected",
    [
        ("90d", timedelta(days=90)),
        ("24h", timedelta(hours=24)),
        ("1h30m", timedelta(minutes=90)),
        ("2w", timedelta(weeks=2)),
        ("90s", timedelta(seconds=90)),
        (" 1D 12H ", timedelta(hours=36)),
    ],
)
def test_parse(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "10", "1y", "-5m", "0s", "5 minutes"])
def test_rejects_with_the_accepted_forms(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(st.integers(min_value=1, max_value=10 * 365 * 86400))
def test_format_round_trips(seconds):
    delta = timedelta(seconds=seconds)
    assert parse_duration(format_duration(delta)) == delta
