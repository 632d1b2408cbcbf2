# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one RFC 3339 parser and formatter of the collection (no third-party imports).

One grammar (``rfc3339_fields``) serves three outputs:

* ``parse_time_ns(text) -> int | None``: nanoseconds since the epoch, for Drop records (hot path: the whole-second
  part of the usual ``...Z`` form is cached); never raises.
* ``to_datetime(value) -> aware datetime | None``: for API objects (strings or the ``datetime`` YAML makes of an
  unquoted timestamp); never raises.
* ``_common.duration.parse_timestamp(text)``: the user-facing form that raises ``DurationError`` with advice.

RFC 3339 rules applied everywhere: a UTC offset is required (``Z`` or ``+hh:mm``; ``+hhmm`` tolerated), ``T``, ``t``
or a space separates date and time, any number of fractional digits (beyond nine are truncated), a leap second
(``:60``) counts as the next second, an offset must be below 24 hours, ASCII digits only.

Formatters: ``format_timestamp(dt)`` (``...Z``, microseconds only when non-zero), ``format_time_ns(ns)`` (nine
fractional digits, sortable as text) and ``time_text(value)`` (a string passes through, a datetime is formatted).
"""

from __future__ import annotations

import datetime
import re

UTC = datetime.timezone.utc

_RFC3339 = re.compile(
    r'(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))', re.ASCII
)
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
_SECONDS_CACHE: dict[str, int | None] = {}
_SECONDS_CACHE_SIZE = 4096


def rfc3339_fields(text: str):
    """``(year, month, day, hour, minute, second, nanos, offset_seconds)`` of an RFC 3339 text, None if the text
    does not follow the grammar (ranges are not checked here: see ``check_ranges``)."""
    match = _RFC3339.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.group(1, 2, 3, 4, 5, 6))
    fraction = match.group(7) or ''
    nanos = int((fraction + '000000000')[:9]) if fraction else 0
    offset = 0
    if match.group(9):
        offset = int(match.group(10)) * 3600 + int(match.group(11)) * 60
        if int(match.group(11)) > 59:
            offset = 24 * 3600  # out of range on purpose: check_ranges rejects it
        offset = -offset if match.group(9) == '-' else offset
    return year, month, day, hour, minute, second, nanos, offset


def check_ranges(fields) -> str | None:
    """Why the time-of-day or offset fields are out of range (None when they are fine; the date is checked by
    ``datetime.date``)."""
    _year, _month, _day, hour, minute, second, _nanos, offset = fields
    if hour > 23:
        return 'hour must be in 0..23'
    if minute > 59:
        return 'minute must be in 0..59'
    if second > 60:
        return 'second must be in 0..60'
    if abs(offset) >= 24 * 3600:
        return 'the UTC offset must be less than 24 hours (minutes 0..59)'
    return None


def _parse_time_slow(text: str) -> int | None:
    fields = rfc3339_fields(text)
    if fields is None or check_ranges(fields):
        return None
    year, month, day, hour, minute, second, nanos, offset = fields
    try:
        days = datetime.date(year, month, day).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        return None
    seconds = ((days * 24 + hour) * 60 + minute) * 60 + second - offset
    return seconds * 1_000_000_000 + nanos


def parse_time_ns(text) -> int | None:
    """RFC 3339 timestamp to integer nanoseconds since the epoch (UTC), None if it is not one."""
    if not isinstance(text, str):
        return None
    # Fast path for the usual UTC form ``YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z``: the whole-second part is cached.
    size = len(text)
    if 20 <= size <= 30 and text[-1] == 'Z' and (size == 20 or text[19] == '.'):
        fraction = text[20:-1]
        if size == 20 or (fraction.isdigit() and fraction.isascii()):
            head = text[:19]
            base = _SECONDS_CACHE.get(head, -1)
            if base == -1:
                base = _parse_time_slow(head + 'Z')
                if len(_SECONDS_CACHE) >= _SECONDS_CACHE_SIZE:
                    _SECONDS_CACHE.clear()
                _SECONDS_CACHE[head] = base
            if base is None:
                return None
            return base + (int((fraction + '000000000')[:9]) if fraction else 0)
    return _parse_time_slow(text)


def fields_to_datetime(fields) -> datetime.datetime:
    """An aware datetime (in the text's own offset) from ``rfc3339_fields``; raises ValueError naming the bad field."""
    problem = check_ranges(fields)
    if problem:
        raise ValueError(problem)
    year, month, day, hour, minute, second, nanos, offset = fields
    tzinfo = UTC if offset == 0 else datetime.timezone(datetime.timedelta(seconds=offset))
    value = datetime.datetime(year, month, day, hour, minute, min(second, 59), nanos // 1000, tzinfo=tzinfo)
    return value + datetime.timedelta(seconds=1) if second == 60 else value


def to_datetime(value) -> datetime.datetime | None:
    """An API timestamp (RFC 3339 text, or a datetime; a naive one is taken as UTC) as an aware datetime, None if it
    is empty or not a valid RFC 3339 timestamp."""
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not value or not isinstance(value, str) or len(value) > 64:
        return None
    fields = rfc3339_fields(value)
    if fields is None:
        return None
    try:
        return fields_to_datetime(fields)
    except ValueError:
        return None


def format_timestamp(value: datetime.datetime | None) -> str | None:
    """RFC 3339 in UTC with a ``Z`` suffix; microseconds only when non-zero; a naive datetime is taken as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    if value.microsecond:
        return value.strftime('%Y-%m-%dT%H:%M:%S.%fZ')
    return value.strftime('%Y-%m-%dT%H:%M:%SZ')


def utc_now_text(now: datetime.datetime | None = None) -> str:
    """``now`` (default: the current time) in whole seconds, RFC 3339 UTC (``2025-05-31T05:24:48Z``)."""
    return format_timestamp((now or datetime.datetime.now(UTC)).replace(microsecond=0))


def format_time_ns(value: int) -> str:
    """Integer nanoseconds since the epoch to RFC 3339 UTC with nine fractional digits (sortable as text)."""
    seconds, nanos = divmod(value, 1_000_000_000)
    moment = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=seconds)
    return f'{moment:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z'


def time_text(value) -> str | None:
    """Timestamp from an API object (RFC 3339 string or ``datetime``) as an RFC 3339 string (a string passes)."""
    if value is None or value == '':
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, datetime.datetime):
        return format_timestamp(value)
    return None
