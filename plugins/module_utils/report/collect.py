# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The first stage of the pipeline: a source's Drops streamed into the one aggregation.

Sources (``sources/``) read and produce ``Drop`` records; they never aggregate. This file is the one place that
wires a source to ``evidence.aggregation.Aggregator``: each Drop goes to the aggregator as the source reads it
(a generator or a ``sink``), so no list of every Drop is ever held. The module results keep their shape:

* both: ``violations`` capped by ``max_violations`` (0: all, the default of these functions; the modules default to
  100), ``violations_total``, ``violations_truncated``;
* ``hubble_flows``: also ``aggregation`` (the aggregator's counters);
  ``coverage.counts_approximate`` also says when the aggregation's Event table was approximate;
* ``aggregate_capture``: an ``AggregationResult`` for a capture file, stream or lines.

The Events source (and the Kubernetes client it needs) is imported on first use, not with this file: reading a
Hubble capture file never pays for it (``AggregatedDropEvents`` is built then, see ``__getattr__``).
"""

from __future__ import annotations

import functools

from ansible_collections.netobs.cilium.plugins.module_utils.evidence.aggregation import AggregationResult, Aggregator
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble import transports as hubble_transports
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble.capture import CaptureReader


def _insert_after(result: dict, anchor: str, fields: dict) -> dict:
    """``result`` with ``fields`` placed right after ``anchor`` (the key order the modules always returned)."""
    ordered = {}
    for key, value in result.items():
        ordered[key] = value
        if key == anchor:
            ordered.update(fields)
    ordered.update((key, value) for key, value in fields.items() if key not in ordered)
    return ordered


def aggregate_capture(source, aggregator: Aggregator | None = None, label: str | None = None, **options) -> AggregationResult:
    """Stream a capture (``source`` and ``options`` as for ``CaptureReader``) into the aggregation (bounded memory)."""
    reader = CaptureReader(**options)
    aggregator = aggregator if aggregator is not None else Aggregator()
    aggregator.add_all(reader.drops(source, label))
    return aggregator.result(reader.coverage)


def violations_fields(aggregator: Aggregator, max_violations: int = 0) -> dict:
    """``violations`` (largest first, at most ``max_violations``; 0: all), ``violations_total``, ``violations_truncated``."""
    if max_violations is None or max_violations < 0:
        raise ValueError('max_violations must be 0 (all) or a positive number')
    violations = aggregator.violations()
    shown = violations if max_violations == 0 else violations[:max_violations]
    return {
        'violations': [item.to_dict() for item in shown],
        'violations_total': len(violations),
        'violations_truncated': len(shown) < len(violations),
    }


def flows_result(result: dict, aggregator: Aggregator, max_violations: int = 0) -> dict:
    """A ``hubble_flows_info`` result: the source's ``result`` plus the violations and counters of ``aggregator``."""
    result = _insert_after(result, 'drops_truncated', violations_fields(aggregator, max_violations))
    return _insert_after(result, 'coverage', {'aggregation': aggregator.stats.to_dict()})


def hubble_flows(aggregator: Aggregator | None = None, max_violations: int = 0, **options):
    """``sources.hubble.transports.collect(**options)`` aggregated: returns ``(result, FlowCollection)``."""
    if max_violations is None or max_violations < 0:
        raise hubble_transports.HubbleError('max_violations must be 0 (all) or a positive number')
    aggregator = aggregator if aggregator is not None else Aggregator()
    result, collection = hubble_transports.collect(sink=aggregator, **options)
    return flows_result(result, aggregator, max_violations), collection


@functools.lru_cache(maxsize=None)
def _aggregated_drop_events():
    """The ``AggregatedDropEvents`` class, built once on first use (it derives from the Events source)."""
    from ansible_collections.netobs.cilium.plugins.module_utils.sources.events import collector as events_collector

    class AggregatedDropEvents(events_collector.DropEventsCollector):
        """A ``DropEventsCollector`` whose drops go to an ``Aggregator`` and whose ``result()`` holds the violations."""

        def __init__(self, *args, sink=None, **options):
            super().__init__(*args, sink=sink if sink is not None else Aggregator(), **options)

        @property
        def aggregator(self) -> Aggregator:
            return self.sink

        def result(self):
            result = super().result()
            if self.sink.stats.events_approximate:
                result['coverage']['counts_approximate'] = True
            return _insert_after(result, 'drops_truncated', violations_fields(self.sink, self.max_violations))

    AggregatedDropEvents.__module__ = __name__
    return AggregatedDropEvents


def __getattr__(name: str):
    """``collect.AggregatedDropEvents``: the class is built (and the Events source imported) on first access."""
    if name == 'AggregatedDropEvents':
        return _aggregated_drop_events()
    raise AttributeError('module %r has no attribute %r' % (__name__, name))


def drop_events(api=None, src=None, **options):
    """``sources.events.collector.collect`` aggregated: returns ``(result, AggregatedDropEvents)``.

    Raises as the source does; a ``DropEventsError`` raised for an unmet ``wait_for`` carries the aggregated result.
    """
    from ansible_collections.netobs.cilium.plugins.module_utils.sources.events import collector as events_collector
    return events_collector.collect(api=api, src=src, factory=_aggregated_drop_events(), **options)
