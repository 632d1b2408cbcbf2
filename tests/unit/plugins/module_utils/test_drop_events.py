# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""drop_events: offline files, filters, coverage, wait_for matching and API fallback (no network)."""

from __future__ import annotations

import copy
import datetime
import json
import os

import pytest
import yaml

from ansible_collections.netobs.cilium.plugins.module_utils.report import collect as pipeline
from ansible_collections.netobs.cilium.plugins.module_utils.sources.events.collector import DropEventsError, WaitCriteria
from ansible_collections.netobs.cilium.plugins.module_utils.k8s.client import KubeAPIError

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'drop_events')
UTC = datetime.timezone.utc
NOW = datetime.datetime(2025, 5, 31, 5, 30, tzinfo=UTC)


def load(name='events.json'):
    with open(os.path.join(FIXTURES, name), encoding='utf-8') as handle:
        return json.load(handle)


def to_events_v1(ev):
    """core/v1 Event -> events.k8s.io/v1 Event (what the API server returns on the newer API)."""
    return {'apiVersion': 'events.k8s.io/v1', 'kind': 'Event', 'metadata': ev['metadata'], 'regarding': ev['involvedObject'],
            'reason': ev['reason'], 'note': ev['message'], 'type': ev['type'], 'deprecatedSource': ev.get('source'),
            'deprecatedFirstTimestamp': ev.get('firstTimestamp'), 'deprecatedLastTimestamp': ev.get('lastTimestamp'),
            'deprecatedCount': ev.get('count'), 'eventTime': None, 'reportingController': ''}


def collect_src(path, **kwargs):
    kwargs.setdefault('now', NOW)
    result, _collector = pipeline.drop_events(src=str(path), **kwargs)
    return result


def test_src_event_list_gives_drops_violations_and_counts():
    result = collect_src(os.path.join(FIXTURES, 'events.json'))
    assert result['events_total'] == 6
    assert result['excluded']['other_reasons'] == 2  # kubelet Pulled + scheduler Scheduled
    assert len(result['drops']) == 6 and result['drops_truncated'] is False
    first = result['drops'][0]
    assert first['direction'] == 'egress' and first['source']['pod'] == 'netshot' and first['port'] == 80
    assert first['evidence']['event']['name'] == 'netshot.1844854550892d40'
    top = result['violations'][0]
    assert top['source']['workload'] == 'netshot' and top['destination']['workload'] == 'nginx' and top['count'] == 7
    assert result['unparsed'] == {'count': 0, 'samples': []}
    assert result['partial'] is False and result['api_requests'] == 0 and result['api_used'] is None
    assert result['coverage']['oldest_event'] == '2025-05-31T05:24:48Z'
    assert result['coverage']['ttl_warning'] is None  # not meaningful for a saved capture
    assert 'wait' not in result


@pytest.mark.parametrize('shape', ['yaml_list', 'plain_list', 'single', 'jsonl', 'events_v1', 'watch_lines'])
def test_src_shapes(tmp_path, shape):
    items = load()['items']
    packet = [i for i in items if i['reason'] == 'PacketDrop']
    path = tmp_path / 'capture'
    if shape == 'yaml_list':
        path.write_text(yaml.safe_dump({'apiVersion': 'v1', 'kind': 'List', 'items': items}))
        expected = 6
    elif shape == 'plain_list':
        path.write_text(json.dumps(items))
        expected = 6
    elif shape == 'single':
        path.write_text(json.dumps(packet[0]))
        expected = 1
    elif shape == 'jsonl':
        path.write_text('\n'.join(json.dumps(i) for i in items) + '\n')
        expected = 6
    elif shape == 'events_v1':
        path.write_text(yaml.safe_dump_all([to_events_v1(i) for i in items]))
        expected = 6
    else:
        path.write_text('\n'.join(json.dumps({'type': 'ADDED', 'object': i}) for i in items))
        expected = 6
    result = collect_src(path)
    assert result['events_total'] == expected
    assert {d['source']['pod'] for d in result['drops'] if d['direction'] == 'egress'} <= {'netshot', 'dns-probe', 'pinger'}


def test_src_directory_is_recursive_and_dedupes_same_event(tmp_path):
    (tmp_path / 'a').mkdir()
    (tmp_path / 'a' / 'one.json').write_text(json.dumps(load()))
    (tmp_path / 'two.yaml').write_text(yaml.safe_dump(load()))  # the same Events again
    (tmp_path / 'v119.yml').write_text(yaml.safe_dump(load('events_v119.json')))
    (tmp_path / 'notes.txt').write_text('ignored')
    result = collect_src(tmp_path, max_drops=0)
    # 6 + 3 (>= 1.19 format), but the first 1.19 Event is the netshot Event again (same uid, newer resourceVersion)
    assert result['events_total'] == 8
    assert len(result['drops']) == 8
    policies = [p for d in result['drops'] for p in d['policies']]
    assert {'name': 'deny-egress-icmp', 'relation': 'denied_by'}.items() <= next(p for p in policies if p['name'] == 'deny-egress-icmp').items()


def test_src_errors_are_clear(tmp_path):
    with pytest.raises(DropEventsError, match='does not exist'):
        collect_src(tmp_path / 'missing.json')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(DropEventsError, match='no .json/.yaml/.yml files'):
        collect_src(tmp_path / 'empty')
    bad = tmp_path / 'bad.json'
    bad.write_text('{"items": [\n  oops: ]: [')
    with pytest.raises(DropEventsError, match='neither valid JSON nor YAML'):
        collect_src(bad)


def test_since_reasons_namespaces_filters():
    path = os.path.join(FIXTURES, 'events.json')
    result = collect_src(path, since='2025-05-31T05:25:20Z')
    # last seen >= 05:25:20: netshot (05:25:23), dns-probe (05:25:38), nginx-tq2mv (05:25:28)
    assert result['events_total'] == 3 and result['excluded']['before_since'] == 3
    assert result['coverage']['since'] == '2025-05-31T05:25:20Z'
    result = collect_src(path, since='4m50s')  # NOW - 4m50s = 05:25:10: only the nginx-8xkqz Event (05:25:00) is older
    assert result['events_total'] == 5
    result = collect_src(path, reasons=['AUTH_REQUIRED'])
    assert [d['reason'] for d in result['drops']] == ['AUTH_REQUIRED'] and result['excluded']['reasons'] == 5
    result = collect_src(path, namespaces=['payments'])
    assert result['events_total'] == 1 and result['excluded']['namespaces'] == 5


def test_since_excluding_everything_warns():
    _result, collector = pipeline.drop_events(src=os.path.join(FIXTURES, 'events.json'), since='1m',
                                              now=NOW + datetime.timedelta(days=1))
    assert collector.warnings and 'older than since=1m' in collector.warnings[0]


def test_max_drops_bounds_the_list_not_the_aggregates():
    result = collect_src(os.path.join(FIXTURES, 'events.json'), max_drops=2)
    assert len(result['drops']) == 2 and result['drops_truncated'] is True
    assert sum(v['count'] for v in result['violations']) == 7 + 1 + 4 + 1 + 1 + 2


def test_unparsed_messages_are_counted_with_samples(tmp_path):
    items = load()['items']
    odd = copy.deepcopy(items[0])
    odd['metadata']['uid'] = 'odd-1'
    odd['message'] = 'Something new in Cilium 2.0 dropped a packet'
    (tmp_path / 'e.json').write_text(json.dumps([items[0], odd]))
    result = collect_src(tmp_path / 'e.json')
    assert result['events_total'] == 2 and len(result['drops']) == 1
    assert result['unparsed']['count'] == 1
    assert result['unparsed']['samples'][0]['message'] == 'Something new in Cilium 2.0 dropped a packet'


def test_invalid_options_are_rejected():
    with pytest.raises(DropEventsError, match='api must be one of'):
        pipeline.AggregatedDropEvents(api_version='v2')
    with pytest.raises(DropEventsError, match='page_size'):
        pipeline.AggregatedDropEvents(page_size=0)
    with pytest.raises(DropEventsError, match='max_drops'):
        pipeline.AggregatedDropEvents(max_drops=-1)
    with pytest.raises(DropEventsError, match="invalid since 'yesterday'"):
        pipeline.AggregatedDropEvents(since='yesterday')
    with pytest.raises(DropEventsError, match="'a,b' is not a valid namespace name"):
        pipeline.AggregatedDropEvents(namespaces=['ok', 'a,b'])
    with pytest.raises(DropEventsError, match='min_count'):
        pipeline.AggregatedDropEvents(wait_for={'min_count': 0})
    with pytest.raises(DropEventsError, match='cannot be used with src'):
        pipeline.drop_events(src=FIXTURES, wait_for={'pod': 'x'})


# ------------------------------------------------------------------ wait_for matching


def fields(**kw):
    base = {'direction': 'egress', 'reason': 'policy_denied', 'namespace': 'cni-test', 'pod': 'netshot', 'peer_namespace': 'cni-test',
            'peer_pod': 'nginx-7c5ddbdf54-8xkqz', 'peer_ip': '10.0.0.226', 'protocol': 'tcp', 'port': 80}
    base.update(kw)
    return base


@pytest.mark.parametrize('spec,match', [
    ({}, True),
    ({'direction': 'egress', 'pod': 'net*', 'peer_pod': 'nginx-*', 'protocol': 'TCP', 'port': 80}, True),
    ({'reason': 'POLICY_DENIED'}, True),
    ({'direction': 'ingress'}, False),
    ({'port': 443}, False),
    ({'peer_pod': 'nginx'}, False),
    ({'peer_ip': '10.0.0.226', 'namespace': 'cni-test', 'peer_namespace': 'cni-test'}, True),
    ({'namespace': 'other'}, False),
])
def test_wait_criteria(spec, match):
    assert WaitCriteria(spec).matches(fields()) is match


def test_wait_counts_occurrences_and_updates_of_the_same_event():
    collector = pipeline.AggregatedDropEvents(wait_for={'pod': 'netshot', 'min_count': 10}, now=NOW)
    event = copy.deepcopy(load()['items'][0])  # count 7
    collector.ingest(event)
    assert (collector.matched, collector.matched_events, collector.events_total) == (7, 1, 1)
    collector.ingest(event)  # same resourceVersion: ignored
    assert collector.matched == 7
    event['count'] = 11
    event['metadata']['resourceVersion'] = '99999'
    collector.ingest(event)  # MODIFIED by the emitter: +4
    assert (collector.matched, collector.matched_events, collector.events_total) == (11, 1, 1)
    assert collector.result()['violations'][0]['count'] == 11
    assert len(collector.drops) == 1


def test_wait_failure_message_names_criteria_and_what_was_seen():
    collector = pipeline.AggregatedDropEvents(wait_for={'pod': 'netshot', 'port': 443, 'timeout': 30}, now=NOW)
    for item in load()['items']:
        collector.ingest(item)
    message = collector.wait_failure_message()
    assert message.startswith('wait_for timed out after 30s: 0 of 1 required drop(s) matched [pod=netshot, port=443]')
    assert 'cni-test/netshot -> cni-test/nginx-7c5ddbdf54-8xkqz TCP/80 (policy_denied) x7' in message


# ------------------------------------------------------------------ coverage / TTL


def test_ttl_warning_only_when_window_exceeds_event_ttl():
    collector = pipeline.AggregatedDropEvents(since='30m', now=NOW)
    collector.source = 'api'
    assert collector.ttl_warning() is None
    collector = pipeline.AggregatedDropEvents(since='3h', now=NOW)
    collector.source = 'api'
    warning = collector.ttl_warning()
    assert 'since=3h reaches 3h0m back' in warning and 'event TTL' in warning and 'oldest PacketDrop event seen: none' in warning
    collector = pipeline.AggregatedDropEvents(now=NOW)
    collector.source = 'api'
    assert 'no since given' in collector.ttl_warning()


# ------------------------------------------------------------------ live paths with a fake API


class FakeAPI:
    """list_pages/watch from a dict {(path, selector): [pages] | KubeAPIError}."""

    def __init__(self, answers):
        self.answers = answers
        self.request_count = 0
        self.calls = []

    def list_pages(self, path, params=None, page_size=500):
        self.calls.append((path, params['fieldSelector'], page_size))
        answer = self.answers[(path, params['fieldSelector'])]
        for item in answer:
            self.request_count += 1
            if isinstance(item, Exception):
                raise item
            yield item


def page(items, rv='10'):
    return {'kind': 'EventList', 'metadata': {'resourceVersion': rv}, 'items': items}


def test_namespaced_scopes_use_namespaced_paths_and_selectors():
    items = load()['items']
    api = FakeAPI({
        ('/api/v1/namespaces/cni-test/events', 'reason=PacketDrop,involvedObject.namespace=cni-test'): [page(items[:5])],
        ('/api/v1/namespaces/payments/events', 'reason=PacketDrop,involvedObject.namespace=payments'): [page([items[4]])],
    })
    result, _collector = pipeline.drop_events(api=api, namespaces=['payments', 'cni-test', 'payments'], page_size=50, now=NOW)
    assert [c[0] for c in api.calls] == ['/api/v1/namespaces/cni-test/events', '/api/v1/namespaces/payments/events']
    assert all(c[2] == 50 for c in api.calls)
    assert result['events_total'] == 5 and result['api_used'] == 'core/v1' and result['api_requests'] == 2


def test_auto_falls_back_to_events_v1_on_403_or_404():
    items = [to_events_v1(i) for i in load()['items']]
    forbidden = KubeAPIError('Forbidden (HTTP 403): ...', status=403)
    api = FakeAPI({
        ('/api/v1/events', 'reason=PacketDrop'): [forbidden],
        ('/apis/events.k8s.io/v1/events', 'reason=PacketDrop'): [page(items)],
    })
    result, _collector = pipeline.drop_events(api=api, now=NOW)
    assert result['api_used'] == 'events.k8s.io/v1' and result['events_total'] == 6
    api = FakeAPI({('/apis/events.k8s.io/v1/namespaces/x/events', 'reason=PacketDrop,regarding.namespace=x'): [page([])]})
    result, _collector = pipeline.drop_events(api=api, api_version='events.k8s.io/v1', namespaces=['x'], now=NOW)
    assert result['api_used'] == 'events.k8s.io/v1'


def test_explicit_api_does_not_fall_back():
    forbidden = KubeAPIError('Forbidden (HTTP 403): may not list "events"', status=403)
    api = FakeAPI({('/api/v1/events', 'reason=PacketDrop'): [forbidden]})
    with pytest.raises(KubeAPIError, match='may not list "events"'):
        pipeline.drop_events(api=api, api_version='core/v1', now=NOW)
    assert len(api.calls) == 1


def test_both_apis_forbidden_reports_both():
    api = FakeAPI({
        ('/api/v1/events', 'reason=PacketDrop'): [KubeAPIError('Forbidden core', status=403, reason='Forbidden')],
        ('/apis/events.k8s.io/v1/events', 'reason=PacketDrop'): [KubeAPIError('Forbidden v1', status=403, reason='Forbidden')],
    })
    with pytest.raises(KubeAPIError) as err:
        pipeline.drop_events(api=api, now=NOW)
    assert str(err.value) == 'Forbidden core (api: auto also tried events.k8s.io/v1: HTTP 403 Forbidden)'


def test_failure_after_first_page_marks_partial():
    items = load()['items']
    api = FakeAPI({('/api/v1/events', 'reason=PacketDrop'): [page(items[:3]), KubeAPIError('HTTP 503 after 6 attempts', status=503)]})
    result, collector = pipeline.drop_events(api=api, now=NOW)
    assert result['partial'] is True and result['events_total'] == 3
    assert 'stopped after 1 page(s): HTTP 503 after 6 attempts' in result['partial_reasons'][0]
    assert collector.warnings


def test_failure_on_first_page_raises():
    api = FakeAPI({('/api/v1/events', 'reason=PacketDrop'): [KubeAPIError('HTTP 503 after 6 attempts', status=503)]})
    with pytest.raises(KubeAPIError, match='503'):
        pipeline.drop_events(api=api, now=NOW)


def test_runtime_declares_the_action_group():
    """module_defaults: {group/netobs.cilium.cilium: ...} needs drop_events_info in meta/runtime.yml action_groups.cilium."""
    with open(os.path.join(FIXTURES, '..', '..', '..', 'meta', 'runtime.yml'), encoding='utf-8') as handle:
        runtime = yaml.safe_load(handle) or {}
    assert 'drop_events_info' in (runtime.get('action_groups') or {}).get('cilium', []), (
        'meta/runtime.yml must list drop_events_info under action_groups.cilium (the module documents that membership)')
