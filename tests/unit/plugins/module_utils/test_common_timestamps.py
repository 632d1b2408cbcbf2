# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one RFC 3339 grammar (_common.timestamps): the ns parser, the datetime parser and the user-facing
``since``/``until`` parser agree on every input; the places where the three old copies disagreed are pinned."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils._common import timestamps as ts
from ansible_collections.netobs.cilium.plugins.module_utils._common.duration import (
    GO_UNITS, DurationError, parse_duration, parse_timestamp, sum_duration_parts)
from ansible_collections.netobs.cilium.plugins.module_utils.sources.events import collector

UTC = datetime.timezone.utc
SAMPLES = [
    '2025-05-31T05:24:48Z', '2025-05-31T05:24:48.077123456Z', '2025-05-31t07:24:48+02:00', '2025-05-31 05:24:48-0130',
    '2025-05-31T05:24:48.0771234569Z', '2016-12-31T23:59:60Z', '2025-05-31T05:24:48', '2025-02-30T05:24:48Z',
    '2025-05-31T24:00:00Z', '2025-05-31T05:24:48+24:00', '2025-05-31T05:24:48+01:60', 'yesterday',
    '\u0662025-05-31T05:24:48Z',
]


@pytest.mark.parametrize('text', SAMPLES)
def test_ns_datetime_and_user_parsers_agree(text):
    nanos = ts.parse_time_ns(text)
    moment = ts.to_datetime(text)
    if nanos is None:
        assert moment is None
        with pytest.raises(DurationError):
            parse_timestamp(text)
        return
    epoch = datetime.datetime(1970, 1, 1, tzinfo=UTC)
    assert (moment - epoch) // datetime.timedelta(microseconds=1) == nanos // 1000
    assert parse_timestamp(text) == moment


def test_offset_of_24_hours_is_a_clean_error():
    # the old since/until parser let datetime.timezone raise a bare ValueError (a traceback in a module)
    with pytest.raises(DurationError, match='offset must be less than 24 hours'):
        parse_timestamp('2025-05-31T05:24:48+24:00', name='since')


def test_leap_second_is_the_next_second_everywhere():
    # the old since/until parser clamped :60 to :59 while the Drop parser counted the next second
    assert parse_timestamp('2016-12-31T23:59:60Z') == datetime.datetime(2017, 1, 1, tzinfo=UTC)
    assert ts.format_time_ns(ts.parse_time_ns('2016-12-31T23:59:60Z')) == '2017-01-01T00:00:00.000000000Z'


def test_more_than_nine_fraction_digits_are_truncated_not_refused():
    # RFC 3339 allows any number of fractional digits; the old since/until parser refused more than nine
    assert parse_timestamp('2025-05-31T05:24:48.0771234569Z') == datetime.datetime(2025, 5, 31, 5, 24, 48, 77123, tzinfo=UTC)


def test_event_timestamps_without_offset_are_invalid():
    # the Event collector used datetime.fromisoformat, which took '2025-05-31T05:24:48' (and '2025-05-31') as UTC;
    # the apiserver always writes an offset, so such a value is not an apiserver timestamp
    assert collector._ts('2025-05-31T05:24:48') is None
    assert collector._ts('2025-05-31') is None
    assert collector._ts('2025-05-31T05:24:48Z') == datetime.datetime(2025, 5, 31, 5, 24, 48, tzinfo=UTC)
    naive = datetime.datetime(2025, 5, 31, 5, 24, 48)
    assert collector._ts(naive) == naive.replace(tzinfo=UTC)
    assert collector._ts(5) is None and collector._ts('') is None


def test_formatters():
    aware = datetime.datetime(2025, 5, 31, 7, 24, 48, 77000, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    assert ts.format_timestamp(aware) == '2025-05-31T05:24:48.077000Z'
    assert ts.format_timestamp(datetime.datetime(2025, 5, 31, 5, 24, 48)) == '2025-05-31T05:24:48Z'  # naive = UTC
    assert ts.utc_now_text(aware) == '2025-05-31T05:24:48Z'
    assert ts.time_text('2025-05-31T05:24:48Z') == '2025-05-31T05:24:48Z' and ts.time_text(None) is None
    assert ts.format_timestamp(None) is None


def test_one_duration_grammar_two_unit_sets():
    assert parse_duration('1h30m').total_seconds() == 5400
    assert sum_duration_parts('1m30s', GO_UNITS) == 90
    assert sum_duration_parts('2d', GO_UNITS) is None  # Go has no day unit
    assert sum_duration_parts('5\u00b5s', GO_UNITS) == pytest.approx(5e-6)
    assert sum_duration_parts('\u0665s', GO_UNITS) is None  # ASCII digits only
    assert sum_duration_parts('5s5', GO_UNITS) is None and sum_duration_parts('', GO_UNITS) is None
