# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Durations (``15m``, ``1h30m``, ``90s``, ``2d``) and RFC 3339 timestamps for ``since``/``until`` options.

* ``parse_duration('1h30m') -> timedelta``: a sequence of ``<number><unit>`` with units
  ``w d h m s ms us ns`` (Go ``time.ParseDuration`` units plus days and weeks); a bare number is seconds.
* ``parse_timestamp('2025-05-31T05:24:48.077Z') -> aware datetime`` (UTC offset required, any number of
  fractional digits, ``T`` or space separator; the one grammar lives in ``_common.timestamps``).
* ``parse_since(value, now=None) -> aware datetime``: a duration means "that long before now",
  otherwise the value must be an RFC 3339 timestamp.
* ``format_timestamp(dt) -> '2025-05-31T05:24:48Z'``.

Errors raise ``DurationError`` (a ``ValueError``) whose message shows accepted forms.
"""

from __future__ import annotations

import datetime
import re

from ansible_collections.netobs.cilium.plugins.module_utils._common.errors import NetobsError
from ansible_collections.netobs.cilium.plugins.module_utils._common.timestamps import (  # pylint: disable=unused-import  # re-exported
    UTC, fields_to_datetime, format_timestamp, rfc3339_fields)


_UNITS = {
    'w': 7 * 86400.0,
    'd': 86400.0,
    'h': 3600.0,
    'm': 60.0,
    's': 1.0,
    'ms': 1e-3,
    'us': 1e-6,
    'ns': 1e-9,
}
# Go's time.ParseDuration units (https://pkg.go.dev/time#ParseDuration): what Cilium's own duration flags accept.
GO_UNITS = {'ns': 1e-9, 'us': 1e-6, '\u00b5s': 1e-6, '\u03bcs': 1e-6, 'ms': 1e-3, 's': 1.0, 'm': 60.0, 'h': 3600.0}
_PART_CACHE: dict = {}
_NUMBER = re.compile(r'^\d+(?:\.\d+)?$')

HINT_DURATION = 'a duration like 15m, 1h30m, 90s or 2d'
HINT_TIMESTAMP = 'an RFC 3339 timestamp like 2025-05-31T05:24:48Z'


class DurationError(NetobsError, ValueError):
    """A duration or timestamp could not be parsed."""


def parse_duration(value, name='duration'):
    """Parse ``value`` (str, int or float seconds) into a ``datetime.timedelta`` (never negative)."""
    if isinstance(value, bool):
        raise DurationError('invalid %s %r: expected %s' % (name, value, HINT_DURATION))
    if isinstance(value, (int, float)):
        if value < 0:
            raise DurationError('invalid %s %r: must not be negative' % (name, value))
        return datetime.timedelta(seconds=value)
    if isinstance(value, datetime.timedelta):
        return value
    text = str(value).strip()
    if not text:
        raise DurationError('invalid %s: empty value; expected %s' % (name, HINT_DURATION))
    if _NUMBER.match(text):
        return datetime.timedelta(seconds=float(text))
    total = sum_duration_parts(text, _UNITS)
    if total is None:
        raise DurationError('invalid %s %r: expected %s (units: w, d, h, m, s, ms)' % (name, value, HINT_DURATION))
    return datetime.timedelta(seconds=total)


def sum_duration_parts(text: str, units) -> float | None:
    """Seconds of ``text`` made only of ``<number><unit>`` parts (units: a dict name -> seconds), None otherwise.

    The one duration grammar: ``parse_duration`` uses it with ``w d h m s ms us ns``, the install checks with Go's
    ``GO_UNITS`` (no days, no bare numbers).
    """
    key = tuple(units)
    part = _PART_CACHE.get(key)
    if part is None:
        names = '|'.join(re.escape(name) for name in sorted(units, key=len, reverse=True))
        part = _PART_CACHE[key] = re.compile(r'(\d+(?:\.\d*)?|\.\d+)(%s)' % names, re.ASCII)
    pos = 0
    total = 0.0
    for match in part.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * units[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        return None
    return total


def parse_timestamp(value, name='timestamp'):
    """Parse an RFC 3339 timestamp (str or datetime) into an aware ``datetime`` (grammar: ``_common.timestamps``)."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise DurationError('invalid %s %s: no UTC offset' % (name, value.isoformat()))
        return value
    text = str(value).strip()
    fields = rfc3339_fields(text)
    if fields is None:
        if re.match(r'^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$', text):
            raise DurationError('invalid %s %r: no UTC offset; append Z (UTC) or an offset like +02:00' % (name, value))
        raise DurationError('invalid %s %r: expected %s' % (name, value, HINT_TIMESTAMP))
    try:
        return fields_to_datetime(fields)
    except ValueError as exc:
        raise DurationError('invalid %s %r: %s' % (name, value, exc)) from exc


def parse_since(value, now=None, name='since'):
    """Turn a ``since`` value (duration before ``now`` or RFC 3339 timestamp) into an aware UTC datetime."""
    if value is None:
        return None
    now = now or datetime.datetime.now(UTC)
    if isinstance(value, datetime.datetime):
        return parse_timestamp(value, name).astimezone(UTC)
    text = str(value).strip()
    if text and (text[0].isdigit() or text[0] == '.') and '-' not in text[1:] and ':' not in text:
        try:
            return now - parse_duration(text, name)
        except DurationError:
            raise DurationError('invalid %s %r: expected %s or %s' % (name, value, HINT_DURATION, HINT_TIMESTAMP)) from None
    try:
        return parse_timestamp(text, name).astimezone(UTC)
    except DurationError:
        if re.match(r'^\d{4}-\d{2}-\d{2}', text):
            raise
        raise DurationError('invalid %s %r: expected %s or %s' % (name, value, HINT_DURATION, HINT_TIMESTAMP)) from None
