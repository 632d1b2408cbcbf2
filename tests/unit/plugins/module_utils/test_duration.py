# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Durations and RFC 3339 timestamps accepted by the since/until options."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils._common.duration import (
    DurationError,
    format_timestamp,
    parse_duration,
    parse_since,
    parse_timestamp,
)

UTC = datetime.timezone.utc
NOW = datetime.datetime(2025, 5, 31, 6, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize('text,seconds', [
    ('15m', 900), ('1h30m', 5400), ('90s', 90), ('2d', 172800), ('1w', 604800), ('1.5h', 5400),
    ('500ms', 0.5), ('1h0m30s', 3630), ('300', 300), (' 5m ', 300), (42, 42), (0.25, 0.25),
])
def test_durations(text, seconds):
    assert parse_duration(text).total_seconds() == pytest.approx(seconds)


@pytest.mark.parametrize('text', ['', 'abc', '15x', 'm15', '1h 30m', '-5m', '1hh', True, -3])
def test_bad_durations_show_accepted_forms(text):
    with pytest.raises(DurationError) as err:
        parse_duration(text, name='since')
    assert 'since' in str(err.value)
    assert '15m' in str(err.value) or 'negative' in str(err.value)


@pytest.mark.parametrize('text,expected', [
    ('2025-05-31T05:24:48Z', datetime.datetime(2025, 5, 31, 5, 24, 48, tzinfo=UTC)),
    ('2025-05-31T05:24:48.077123456Z', datetime.datetime(2025, 5, 31, 5, 24, 48, 77123, tzinfo=UTC)),
    ('2025-05-31t07:24:48+02:00', datetime.datetime(2025, 5, 31, 5, 24, 48, tzinfo=UTC)),
    ('2025-05-31 05:24:48-0130', datetime.datetime(2025, 5, 31, 6, 54, 48, tzinfo=UTC)),
])
def test_timestamps(text, expected):
    value = parse_timestamp(text)
    assert value.tzinfo is not None
    assert value == expected


def test_naive_timestamp_is_rejected_with_advice():
    with pytest.raises(DurationError, match='no UTC offset; append Z'):
        parse_since('2025-05-31T05:24:48', now=NOW)


def test_invalid_date_names_problem():
    with pytest.raises(DurationError, match='month must be in 1..12'):
        parse_since('2025-13-01T00:00:00Z', now=NOW)


def test_since_duration_counts_back_from_now():
    assert parse_since('15m', now=NOW) == datetime.datetime(2025, 5, 31, 5, 45, tzinfo=UTC)
    assert parse_since('1h30m', now=NOW) == datetime.datetime(2025, 5, 31, 4, 30, tzinfo=UTC)
    assert parse_since(None) is None


def test_since_timestamp_is_normalised_to_utc():
    value = parse_since('2025-05-31T07:00:00+02:00', now=NOW)
    assert value == datetime.datetime(2025, 5, 31, 5, 0, tzinfo=UTC) and value.tzinfo == UTC


def test_since_garbage_mentions_both_forms():
    with pytest.raises(DurationError) as err:
        parse_since('yesterday', now=NOW)
    assert 'duration like 15m' in str(err.value) and 'RFC 3339' in str(err.value)


def test_format_timestamp():
    assert format_timestamp(datetime.datetime(2025, 5, 31, 5, 24, 48, tzinfo=UTC)) == '2025-05-31T05:24:48Z'
    assert format_timestamp(datetime.datetime(2025, 5, 31, 5, 24, 48, 5, tzinfo=UTC)) == '2025-05-31T05:24:48.000005Z'
    assert format_timestamp(None) is None
