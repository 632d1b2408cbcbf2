# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 11 A: the golden captures of Cilium 1.19.6 on Kubernetes 1.34.5 parse field for field.

tests/fixtures/real/1.19.6/PROVENANCE.md says how they were taken: netshot (cni-test, run=netshot) is denied TCP/80 to
nginx-57d5f474d5-cmkgr (10.244.0.162) by NetworkPolicy deny-egress; the capture also holds IPv6 router solicitations
dropped as UNSUPPORTED_L3_PROTOCOL.
"""

from __future__ import annotations

import copy
import json
import os

from ansible_collections.netobs.cilium.plugins.module_utils.attribution import attribute as attribution
from ansible_collections.netobs.cilium.plugins.module_utils.report import collect as pipeline
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble import capture as capture_reader
from ansible_collections.netobs.cilium.plugins.module_utils.sources.events import parser as event_parser
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.aggregation import Aggregator
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.model import Coverage
from ansible_collections.netobs.cilium.plugins.module_utils.attribution.snapshot import PolicySnapshot

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
REAL = os.path.join(ROOT, 'tests', 'fixtures', 'real', '1.19.6')
EVENTS = os.path.join(REAL, 'packetdrop-events.json')
FLOWS = os.path.join(REAL, 'hubble-observe-last200.jsonl')
KEY = 'egress|cni-test/netshot|cni-test/nginx|TCP|80|POLICY_DENIED'
NGINX = 'nginx-57d5f474d5-cmkgr'
NETSHOT_LABELS = ['k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=cni-test', 'k8s:io.cilium.k8s.policy.cluster=default',
                  'k8s:io.cilium.k8s.policy.serviceaccount=default', 'k8s:io.kubernetes.pod.namespace=cni-test', 'k8s:run=netshot']


def records():
    with open(FLOWS, encoding='utf-8') as handle:
        return [json.loads(line) for line in handle]


def test_the_packetdrop_event_field_by_field():
    coverage = Coverage()
    with open(EVENTS, encoding='utf-8') as handle:
        drops = list(event_parser.parse_events(json.load(handle), coverage, file=EVENTS))
    summary = coverage.to_dict()
    assert len(drops) == 1 and (summary['events_total'], summary['event_drops'], summary['unparsed_events']['count']) == (1, 1, 0)
    drop = drops[0].to_dict()
    assert drop['unparsed'] is None
    assert (drop['direction'], drop['verdict'], drop['reason'], drop['reason_code'], drop['event_type']) == (
        'egress', 'DROPPED', 'POLICY_DENIED', 133, 'event')
    assert (drop['source']['namespace'], drop['source']['pod'], drop['source']['ip']) == ('cni-test', 'netshot', None)
    assert (drop['destination']['namespace'], drop['destination']['pod'], drop['destination']['ip']) == ('cni-test', NGINX, '10.244.0.162')
    assert (drop['protocol'], drop['port'], drop['count'], drop['time']) == ('TCP', 80, 1, '2026-12-03T14:06:46Z')
    # the 1.19 extended suffix "Applied policies: NetworkPolicy/deny-egress." -> a policy of the local pod's namespace
    assert drop['policies'] == [{'relation': 'applied', 'kind': 'NetworkPolicy', 'namespace': 'cni-test', 'name': 'deny-egress',
                                 'clusterwide': False, 'revision': None}]
    assert drop['evidence']['event'] == {'namespace': 'cni-test', 'name': 'netshot.18edc385f044b077',
                                         'uid': '870f41dc-0722-4125-a0e6-590d693ede6c', 'count': 1,
                                         'first_seen': '2026-12-03T14:06:46Z', 'last_seen': '2026-12-03T14:06:46Z'}


def test_the_denied_syn_flows_field_by_field():
    drops, _coverage = capture_reader.read_drops(FLOWS)
    denied = [d.to_dict() for d in drops if d.reason == 'POLICY_DENIED']
    assert [d['event_type'] for d in denied] == ['policy-verdict', 'drop'] * 5
    for drop in denied:
        assert (drop['node'], drop['direction'], drop['verdict'], drop['reason'], drop['reason_code']) == (
            'netobs-node', 'egress', 'DROPPED', 'POLICY_DENIED', 133)
        assert (drop['protocol'], drop['port'], drop['tcp_flags'], drop['policies']) == ('TCP', 80, ['SYN'], [])
        assert drop['source'] == {'namespace': 'cni-test', 'pod': 'netshot', 'workload': None, 'labels': NETSHOT_LABELS,
                                  'identity': 8125, 'reserved': None, 'ip': '10.244.0.65'}
        dst = drop['destination']
        assert (dst['namespace'], dst['pod'], dst['identity'], dst['ip'], dst['workload']) == (
            'cni-test', NGINX, 4073, '10.244.0.162', {'kind': 'Deployment', 'name': 'nginx'})
        assert 'k8s:app=nginx' in dst['labels']
    first = denied[0]['evidence']
    assert (first['kind'], first['flow_uuid'], first['line']) == ('flow', 'efe03936-8a0f-4a3e-b34d-5622dafd5898', 86)


def test_every_line_is_accounted_for():
    _drops, fast = capture_reader.read_drops(FLOWS)
    cov = fast.to_dict()
    assert cov['lines_read'] == 193 and cov['decoded'] + cov['not_decoded'] == 193
    assert (cov['decoded'], cov['flows'], cov['drops'], cov['other_records'], cov['malformed']['count']) == (22, 22, 22, 0, 0)
    assert cov['nodes'] == ['netobs-node'] and cov['lost_events']['total'] == 0
    assert cov['time'] == {'first': '2026-12-03T14:06:33.310300441Z', 'last': '2026-12-03T14:07:01.098093126Z'}
    # strict mode decodes every line: the 171 lines skipped by the fast path are all FORWARDED flows
    _drops, strict = capture_reader.read_drops(FLOWS, strict=True)
    assert (strict.lines_read, strict.decoded, strict.flows, strict.drops, strict.other_records, strict.malformed) == (193, 193, 193, 22, 0, 0)
    verdicts = {}
    for record in records():
        verdicts[record['flow']['verdict']] = verdicts.get(record['flow']['verdict'], 0) + 1
    assert verdicts == {'FORWARDED': 171, 'DROPPED': 22}


def test_one_denied_syn_is_one_drop_and_its_policy_verdict_only_corroborates():
    result = pipeline.aggregate_capture(FLOWS).to_dict()
    top = result['violations'][0]
    assert top['key'] == KEY
    assert (top['count'], top['count_by_kind']) == (5, {'event': 0, 'flow': 5, 'policy_verdict': 5})
    assert (top['first_seen'], top['last_seen'], top['nodes']) == (
        '2026-12-03T14:06:46.419456390Z', '2026-12-03T14:06:50.498679195Z', ['netobs-node'])
    assert result['aggregation'] == {'drops_in': 22, 'pairs_collapsed': 5, 'event_duplicates': 0, 'overflow_drops': 0, 'events_approximate': 0}
    assert sum(v['count'] for v in result['violations']) == 17        # 5 denied SYNs + 12 IPv6 drops


def _aggregate_lines(lines):
    drops, _coverage = capture_reader.read_drops([json.dumps(r) + '\n' for r in lines])
    return {v.key: v for v in Aggregator().add_all(drops).violations()}


def test_interleaved_verdict_and_drop_flows_do_not_inflate_the_count():
    # Two denied SYNs of one socket handled on two CPUs: the verdicts of both arrive before their drops.
    verdict, drop = [r for r in records() if r['flow'].get('drop_reason_desc') == 'POLICY_DENIED'][:2]
    second_verdict, second_drop = copy.deepcopy(verdict), copy.deepcopy(drop)
    for record, uuid in ((second_verdict, 'v2'), (second_drop, 'd2')):
        record['flow']['uuid'] = uuid
    assert _aggregate_lines([verdict, second_verdict, drop, second_drop])[KEY].count == 2


def test_a_drop_flow_delayed_after_its_verdict_still_counts_once():
    verdict, drop = [r for r in records() if r['flow'].get('drop_reason_desc') == 'POLICY_DENIED'][:2]
    late = copy.deepcopy(drop)
    late['flow']['time'] = late['time'] = '2026-12-03T14:06:46.450000000Z'  # 30 ms later (a busy agent)
    assert _aggregate_lines([verdict, late])[KEY].count == 1


def _snapshot():
    return PolicySnapshot.from_objects([
        {'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': 'cni-test', 'labels': {'kubernetes.io/metadata.name': 'cni-test'}}},
        {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': 'netshot', 'namespace': 'cni-test', 'labels': {'run': 'netshot'}},
         'spec': {'nodeName': 'netobs-node'}, 'status': {'podIP': '10.244.0.65', 'podIPs': [{'ip': '10.244.0.65'}]}},
        {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': NGINX, 'namespace': 'cni-test', 'labels': {'app': 'nginx'}},
         'spec': {'nodeName': 'netobs-node'}, 'status': {'podIP': '10.244.0.162', 'podIPs': [{'ip': '10.244.0.162'}]}},
        {'apiVersion': 'networking.k8s.io/v1', 'kind': 'NetworkPolicy', 'metadata': {'name': 'deny-egress', 'namespace': 'cni-test'},
         'spec': {'podSelector': {'matchLabels': {'run': 'netshot'}}, 'policyTypes': ['Egress'],
                  'egress': [{'ports': [{'protocol': 'UDP', 'port': 53}, {'protocol': 'TCP', 'port': 53}]}]}},
    ])


def test_ipv6_router_solicitations_are_counted_under_their_reason_and_blame_no_policy():
    result = pipeline.aggregate_capture(FLOWS).to_dict()
    ipv6 = [v for v in result['violations'] if v['reason'] == 'UNSUPPORTED_L3_PROTOCOL']
    assert sum(v['count'] for v in ipv6) == 12 and len(ipv6) == 6
    solicitations = {v['key']: v['count'] for v in ipv6 if v['destination']['ip'] == 'ff02::2'}
    assert solicitations == {'ingress|cni-test/netshot|ip:ff02::2|ICMPv6|-|UNSUPPORTED_L3_PROTOCOL': 3,
                             'ingress|cni-test/nginx|ip:ff02::2|ICMPv6|-|UNSUPPORTED_L3_PROTOCOL': 3}
    for violation in ipv6:
        # no pod name in these flows: the side is named from the identity labels, the peer is the multicast address
        assert violation['source']['pods'] == [] and violation['source']['namespace'] == 'cni-test'
        assert violation['destination']['reserved'] == 'unknown' and violation['destination']['ip'].startswith('ff02::')
        assert (violation['protocol'], violation['port'], violation['policies']) == ('ICMPv6', None, [])
    snapshot = _snapshot()
    for violation in ipv6:
        found = attribution.attribute(violation, snapshot)
        assert found['responsible'] == [] and found['source'] == 'none'
    denied = attribution.attribute(result['violations'][0], snapshot)
    assert [(r['kind'], r['namespace'], r['name']) for r in denied['responsible']] == [('NetworkPolicy', 'cni-test', 'deny-egress')]


def test_the_event_and_the_flows_meet_in_one_violation():
    with open(EVENTS, encoding='utf-8') as handle:
        event_drops = list(event_parser.parse_events(json.load(handle)))
    flow_drops, _coverage = capture_reader.read_drops(FLOWS)
    violation = {v.key: v for v in Aggregator().add_all(event_drops).add_all(flow_drops).violations()}[KEY].to_dict()
    assert (violation['count'], violation['count_by_kind'], violation['evidence_kinds']) == (
        5, {'event': 1, 'flow': 5, 'policy_verdict': 5}, ['event', 'flow'])
    assert violation['policies'][0]['name'] == 'deny-egress'
