# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""event_parser stays linear on hostile PacketDrop messages and bounds what it keeps (issue 10, item 4).

The timing test is benchmark-style: the parse time of a 1 MB message is compared with a linear baseline measured
in the same run over the same text (a tokenising regex scan), with a generous ratio; no fixed wall-clock limit.
A quadratic parser needs minutes for 1 MB (the old lazy section regex: 88 KB took seconds), so a SIGALRM guard
turns a regression into a failure instead of a hang.
"""

from __future__ import annotations

import random
import re
import signal
import time

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils.evidence.model import Coverage
from ansible_collections.netobs.cilium.plugins.module_utils.sources.events.parser import (
    MAX_MESSAGE_CHARS,
    MAX_POLICIES_PER_MESSAGE,
    MAX_UNPARSED_KEPT,
    _parse_policies,
    parse_event,
    parse_message,
)

MB = 1 << 20
HEAD = 'Outgoing packet dropped (policy_denied) to world (1.1.1.1) TCP/80.'
MAX_RATIO = 60  # parse time / baseline time; linear parsing measures ~0.1-16, the old quadratic regex ~10^4


def _repeat(unit, size=MB):
    return unit * (size // len(unit))


HOSTILE = {
    # Every "Applied policies: " is a candidate section start whose lazy body used to scan to the end: quadratic.
    'section-heads-no-dot': HEAD + ' ' + _repeat('Applied policies: '),
    'section-heads-dot-no-space': HEAD + ' ' + _repeat('Denied by clusterwide policies: x. x'),
    'many-valid-sections': HEAD + _repeat(' Applied policies: a/b.'),
    'one-section-many-policies': HEAD + ' Denied by policies: ' + ','.join('CiliumNetworkPolicy/p%d' % i for i in range(MB // 26)) + '.',
    'extension-starts-only': 'Outgoing packet dropped (policy_denied) to ' + _repeat('. Applied policies: '),
    'ipv6-colons': 'Outgoing packet dropped (policy_denied) to ' + ':' * MB + 'x',
    'zone-index': 'Outgoing packet dropped (policy_denied) to ::%' + 'a' * MB + ' x',
    'long-pod-name': 'Outgoing packet dropped (policy_denied) to ns/' + 'a' * MB + ' (x',
}


def _best(func, text, runs=3):
    best = None
    for _run in range(runs):
        start = time.perf_counter()
        func(text)
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    return best


def _baseline(text):
    return len(re.findall(r'[^ .,/]+', text))


class _Stalled(Exception):
    pass


def _on_alarm(_signum, _frame):
    raise _Stalled()


@pytest.mark.parametrize('shape', sorted(HOSTILE))
def test_parse_time_of_1mb_hostile_message_is_linear(shape):
    text = HOSTILE[shape]
    assert len(text) >= MB - 64
    baseline = _best(_baseline, text)
    guard = max(30.0, MAX_RATIO * 20 * baseline)  # only stops a hang; the assertion below is the ratio
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, guard)
    try:
        parsed = _best(parse_message, text)
    except _Stalled:
        pytest.fail('parse_message(%s, %d chars) did not finish within %.0fs (baseline %.4fs): not linear' % (shape, len(text), guard, baseline))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    ratio = parsed / max(baseline, 1e-6)
    assert ratio <= MAX_RATIO, '%s: parse %.4fs vs linear baseline %.4fs = %.1fx' % (shape, parsed, baseline, ratio)


def _old_parse_policies(text):
    """The previous (quadratic) implementation, as an oracle for what the grammar accepts on short inputs."""
    head = r'(?:Denied by|Applied) (?:clusterwide )?policies: '
    section = re.compile(r'(Denied by|Applied) (clusterwide )?policies: (.*?)\.(?= ' + head + '|$)')
    policies = []
    position = 0
    for match in section.finditer(text):
        if match.start() != position:
            return None
        position = match.end() + 1
        relation = 'denied_by' if match.group(1) == 'Denied by' else 'applied'
        for element in match.group(3).split(','):
            if not element:
                continue
            kind, sep, name = element.partition('/')
            if not sep:
                kind, name = None, element
            if not name:
                return None
            policies.append((relation, kind, name, bool(match.group(2)) or kind == 'CiliumClusterwideNetworkPolicy'))
    if position < len(text):
        return None
    return tuple(policies)


def test_linear_section_parser_accepts_exactly_what_the_old_grammar_accepted():
    rng = random.Random(20240610)
    tokens = ['Denied by policies: ', 'Applied policies: ', 'Denied by clusterwide policies: ', 'Applied clusterwide policies: ',
              '.', '. ', ' ', ',', '/', 'a', 'b.c', 'CiliumNetworkPolicy/', 'CiliumClusterwideNetworkPolicy/x', 'Denied by ', 'policies: ']
    checked = accepted = 0
    for _case in range(20000):
        text = ''.join(rng.choice(tokens) for _index in range(rng.randint(1, 9)))
        if rng.random() < 0.5:
            text = rng.choice(tokens[:4]) + text
        assert _parse_policies(text) == _old_parse_policies(text), repr(text)
        checked += 1
        accepted += _old_parse_policies(text) is not None
    assert checked == 20000 and accepted > 500  # the oracle accepted a meaningful share, so both paths were exercised


def _event(message):
    return {
        'kind': 'Event', 'reason': 'PacketDrop', 'type': 'Warning', 'message': message, 'count': 3,
        'metadata': {'namespace': 'shop', 'name': 'api-1.17f', 'uid': 'u-1'},
        'involvedObject': {'kind': 'Pod', 'namespace': 'shop', 'name': 'api-1'},
        'lastTimestamp': '2025-05-31T05:24:48Z', 'source': {'component': 'cilium', 'host': 'node-a'},
    }


def test_huge_valid_message_is_parsed_counted_and_bounded():
    policies = ','.join('CiliumNetworkPolicy/p%d' % i for i in range(40000))
    message = HEAD + ' Denied by policies: ' + policies + '.'
    assert len(message) > MAX_MESSAGE_CHARS
    coverage = Coverage()
    drop = parse_event(_event(message), coverage)
    assert drop is not None and drop.unparsed is None
    assert (drop.direction, drop.reason, drop.port, drop.count) == ('egress', 'POLICY_DENIED', 80, 3)
    assert len(drop.policies) == MAX_POLICIES_PER_MESSAGE
    assert drop.policies[0].name == 'p0'
    assert (coverage.event_drops, coverage.events_oversized, coverage.unparsed_events) == (1, 1, 0)
    assert coverage.to_dict()['events_oversized'] == 1


def test_huge_unparsed_message_is_counted_and_only_a_bounded_text_is_kept():
    message = 'Outgoing packet dropped (policy_denied) to ' + 'x' * MB
    coverage = Coverage()
    drop = parse_event(_event(message), coverage)
    assert drop is not None
    assert drop.unparsed.startswith(message[:MAX_UNPARSED_KEPT])
    assert len(drop.unparsed) < MAX_UNPARSED_KEPT + 100
    assert 'truncated, %d characters in total' % len(message) in drop.unparsed
    assert (drop.direction, drop.reason) == ('egress', 'POLICY_DENIED')
    assert (coverage.unparsed_events, coverage.events_oversized) == (1, 1)
    assert all(len(sample['message']) <= 500 for sample in coverage.unparsed_samples)


def test_normal_messages_are_not_counted_as_oversized():
    coverage = Coverage()
    drop = parse_event(_event(HEAD + ' Denied by policies: CiliumNetworkPolicy/deny-all.'), coverage)
    assert [p.name for p in drop.policies] == ['deny-all']
    assert coverage.events_oversized == 0


def test_merge_adds_oversized_counts():
    first, second = Coverage(), Coverage()
    first.events_oversized, second.events_oversized = 2, 3
    first.merge(second)
    assert first.events_oversized == 5
