# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fuzz campaign: mutated PacketDrop Events into ``DropEventsCollector.ingest`` (and mutated flows into the flow path).

Usage (from the repository root; a script, not a pytest test)::

    .venv/bin/python tests/perf/fuzz_ingest.py [--inputs 500000] [--seed 1] [--flows 100000] [--show 5]

Every input is a real fixture Event mutated by ``tests/event_mutations.py`` (type swaps, deletions, 5000-digit
integers, lone surrogates, bidi characters, deep nesting, watch wrappers, scalars...). Each goes to a fresh
collector (one of a few option sets: none, namespaces, since, reasons, wait_for) and must

* not raise (an exception is an *escape*), and
* be accounted exactly once: ``events_total`` + ``events_malformed`` + ``excluded`` (``before_since``,
  ``namespaces``, ``other_reasons``; ``excluded.reasons`` is a part of ``events_total``) grow by one.

The same is done for mutated Hubble flow records through ``FlowCollection.add_record`` (the relay/exec path)
and ``CaptureReader`` (the file path). Prints the counts and exits non-zero when anything escaped or was not
accounted for.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import random
import sys
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, '.cache', 'collections'))
sys.path.insert(1, os.path.join(REPO, 'tests'))

# pylint: disable=wrong-import-position
from event_mutations import fixture_events, mutate  # noqa: E402

from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble.capture import CaptureReader  # noqa: E402
from ansible_collections.netobs.cilium.plugins.module_utils.sources.events.collector import DropEventsCollector  # noqa: E402
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble.relay import FlowQuery  # noqa: E402
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble.transports import FlowCollection  # noqa: E402

NOW = datetime.datetime(2025, 5, 31, 5, 30, tzinfo=datetime.timezone.utc)
OPTION_SETS = (
    {},
    {'namespaces': ['cni-test']},
    {'since': '2025-05-31T05:25:10Z'},
    {'reasons': ['policy_denied', 'auth_required']},
    {'wait_for': {'min_count': 1, 'direction': 'egress', 'pod': 'net*', 'port': 80, 'protocol': 'tcp'}},
)


def accounted(collector):
    """Items the collector accounted for: parsed PacketDrop Events (``events_total``, which includes the ones the
    ``reasons`` filter left out after parsing), malformed items and the Events excluded before parsing."""
    excluded = collector.excluded
    return (collector.events_total + collector.malformed + excluded['before_since'] + excluded['namespaces']
            + excluded['other_reasons'])


def fuzz_events(count, rng, show):
    events = fixture_events()
    escaped, unaccounted = 0, 0
    kinds = collections.Counter()
    samples = []
    for index in range(count):
        obj = mutate(rng, rng.choice(events))
        collector = DropEventsCollector(now=NOW, **OPTION_SETS[index % len(OPTION_SETS)])
        try:
            collector.ingest(obj)
            if accounted(collector) != 1:
                unaccounted += 1
                if len(samples) < show:
                    samples.append('unaccounted: %s' % _short(obj))
        except Exception as exc:  # pylint: disable=broad-exception-caught
            escaped += 1
            kinds[type(exc).__name__] += 1
            if len(samples) < show:
                where = ''.join(traceback.format_exc().splitlines(True)[-4:])
                samples.append('%s: %s\n  input: %s\n%s' % (type(exc).__name__, str(exc)[:200], _short(obj), where))
    return escaped, unaccounted, kinds, samples


def fuzz_flows(count, rng, show):
    with open(os.path.join(REPO, 'tests', 'fixtures', 'cilium', 'flows.jsonl'), encoding='utf-8') as handle:
        flows = [json.loads(line) for line in handle if line.strip()]
    escaped, unaccounted = 0, 0
    kinds = collections.Counter()
    samples = []
    for index in range(count):
        obj = mutate(rng, rng.choice(flows))
        try:
            if index % 2:
                collection = FlowCollection(FlowQuery(verdicts=[]))
                collection.add_record(obj, 'fuzz', 1)
                cov = collection.coverage
                if cov.flows + cov.malformed + cov.other_records + cov.lost_records + cov.status_records != 1:
                    unaccounted += 1
                    if len(samples) < show:
                        samples.append('unaccounted flow: %s' % _short(obj))
            else:
                try:
                    line = json.dumps(obj, default=str).encode('utf-8', 'surrogatepass')
                except (ValueError, TypeError, RecursionError):
                    continue
                reader = CaptureReader(verdicts=['DROPPED'], strict=True)
                list(reader.drops([line]))
        except Exception as exc:  # pylint: disable=broad-exception-caught
            escaped += 1
            kinds[type(exc).__name__] += 1
            if len(samples) < show:
                where = ''.join(traceback.format_exc().splitlines(True)[-4:])
                samples.append('%s: %s\n  input: %s\n%s' % (type(exc).__name__, str(exc)[:200], _short(obj), where))
    return escaped, unaccounted, kinds, samples


def _short(obj):
    try:
        return repr(obj)[:300]
    except (ValueError, RecursionError):
        return '<unprintable %s>' % type(obj).__name__


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--inputs', type=int, default=500_000, help='mutated Events to ingest')
    parser.add_argument('--flows', type=int, default=100_000, help='mutated flow records to parse')
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--show', type=int, default=5, help='failures to print')
    args = parser.parse_args(argv)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    rng = random.Random(args.seed)
    failed = False
    for name, func, count in (('events', fuzz_events, args.inputs), ('flows', fuzz_flows, args.flows)):
        if not count:
            continue
        started = time.perf_counter()
        escaped, unaccounted, kinds, samples = func(count, rng, args.show)
        elapsed = time.perf_counter() - started
        print('%s: %d mutated inputs in %.1fs (seed %d): %d escaped %s, %d not accounted for'
              % (name, count, elapsed, args.seed, escaped, dict(kinds) or '', unaccounted))
        for sample in samples:
            print('  ' + sample.replace('\n', '\n  '))
        failed = failed or bool(escaped or unaccounted)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
