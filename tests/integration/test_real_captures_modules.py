# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 11 A: the golden captures of Cilium 1.19.6 (tests/fixtures/real/1.19.6) through the shipped modules.

One ansible-playbook run: drop_events_info on the saved PacketDrop Events, hubble_flows_info on the saved
``hubble observe --last 200 -o jsonpb`` output, and hubble_flows_info through the loopback Relay serving the same
capture (real 1.19 flows carry ``emitter``, a field the collection's proto does not declare).
"""

from __future__ import annotations

import json
import os

import pytest

from servers.hubble_relay import HubbleRelayServer
from playbook_tasks import run_tasks

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REAL = os.path.join(REPO, 'tests', 'fixtures', 'real', '1.19.6')
KEY = 'egress|cni-test/netshot|cni-test/nginx|TCP|80|POLICY_DENIED'


def test_real_captures_through_the_modules(tmp_path):
    flows_src = os.path.join(REAL, 'hubble-observe-last200.jsonl')
    with HubbleRelayServer() as srv:
        srv.load_jsonl(flows_src)
        events, flows, relay = run_tasks(tmp_path, [
            {'name': 'Events', 'netobs.cilium.drop_events_info': {'src': os.path.join(REAL, 'packetdrop-events.json')}},
            {'name': 'Flows from the file', 'netobs.cilium.hubble_flows_info': {'src': flows_src, 'max_drops': 0}},
            {'name': 'Flows through Relay', 'netobs.cilium.hubble_flows_info': {'relay_address': srv.address, 'max_drops': 0}},
        ])

    assert events['changed'] is False and events['partial'] is False
    assert (events['events_total'], events['unparsed']['count'], len(events['drops'])) == (1, 0, 1)
    event = events['drops'][0]
    assert (event['source']['namespace'], event['source']['pod'], event['direction'], event['reason']) == (
        'cni-test', 'netshot', 'egress', 'POLICY_DENIED')
    assert (event['destination']['namespace'], event['destination']['pod'], event['destination']['ip']) == (
        'cni-test', 'nginx-57d5f474d5-cmkgr', '10.244.0.162')
    assert (event['protocol'], event['port']) == ('TCP', 80)
    assert [(p['relation'], p['kind'], p['name']) for p in event['policies']] == [('applied', 'NetworkPolicy', 'deny-egress')]
    assert [(v['key'], v['count']) for v in events['violations']] == [(KEY, 1)]

    for result in (flows, relay):
        assert result['changed'] is False and result['partial'] is False and result['malformed']['count'] == 0
        assert result['flows_total'] == 22 and result['nodes']['seen'] == ['netobs-node']
        top = result['violations'][0]
        assert (top['key'], top['count'], top['count_by_kind']) == (KEY, 5, {'event': 0, 'flow': 5, 'policy_verdict': 5})
        assert result['aggregation']['pairs_collapsed'] == 5
        denied = [d for d in result['drops'] if d['reason'] == 'POLICY_DENIED']
        assert sorted({d['event_type'] for d in denied}) == ['drop', 'policy-verdict'] and len(denied) == 10
        for drop in denied:
            assert (drop['source']['identity'], drop['destination']['identity'], drop['node']) == (8125, 4073, 'netobs-node')
            assert (drop['direction'], drop['verdict'], drop['protocol'], drop['port']) == ('egress', 'DROPPED', 'TCP', 80)
            assert (drop['source']['pod'], drop['destination']['pod']) == ('netshot', 'nginx-57d5f474d5-cmkgr')
        ipv6 = [v for v in result['violations'] if v['reason'] == 'UNSUPPORTED_L3_PROTOCOL']
        assert sum(v['count'] for v in ipv6) == 12 and all(v['policies'] == [] for v in ipv6)
        assert sum(v['count'] for v in result['violations']) == 17
    cov = flows['coverage']
    assert (cov['lines_read'], cov['decoded'], cov['not_decoded'], cov['drops'], cov['other_records']) == (193, 22, 171, 22, 0)


def test_real_lost_events_and_relay_node_status_through_the_module(tmp_path):
    # A slow `hubble observe --follow` reader during a flood of 40k denied UDP packets: Hubble's ring buffer
    # overwrote 70,223 events and said so in one lost_events record (PROVENANCE.md). Read from the file and served by
    # the loopback Relay, the module must report the loss and never claim the evidence complete.
    lost_src = os.path.join(REAL, 'hubble-observe-follow-lost-events.jsonl')
    status_src = os.path.join(REAL, 'hubble-observe-relay-debug-stderr.txt')
    with HubbleRelayServer() as srv:
        srv.load_jsonl(lost_src)
        from_file, through_relay, status, report = run_tasks(tmp_path, [
            {'name': 'Lost events from the file', 'netobs.cilium.hubble_flows_info': {'src': lost_src, 'max_drops': 0}},
            {'name': 'Lost events through Relay', 'netobs.cilium.hubble_flows_info': {'relay_address': srv.address, 'max_drops': 0}},
            {'name': 'Relay node_status (CLI --debug stderr)', 'netobs.cilium.hubble_flows_info': {'src': status_src, 'max_drops': 0}},
            {'name': 'Report', 'netobs.cilium.violation_report': {'evidence': ['{{ r0 }}'], 'dest': str(tmp_path / 'reports'),
                                                                  'formats': ['json'], 'fail_on': 'none'}},
        ])
    for result in (from_file, through_relay):
        lost = result['coverage']['lost_events']
        assert (lost['total'], lost['by_source'], lost['by_node']) == (
            70223, {'HUBBLE_RING_BUFFER': 70223}, {'netobs-node': 70223}), result['coverage']
        # the ten DROPPED lines before the loss (flooder -> the node, denied at the pod's egress) are five drops, each
        # as a drop record and a policy-verdict record: counted once
        assert result['flows_total'] == 10 and sum(v['count'] for v in result['violations']) == 5
    # no expectations, so the flood is an unreviewed violation (verdict fail); the loss must be named as well
    with open(report['reports']['json'], encoding='utf-8') as handle:
        document = json.load(handle)
    assert document['summary']['verdict'] == 'fail'
    assert document['coverage']['complete'] is False
    assert 'Hubble lost 70223 event(s)' in document['coverage']['incomplete_reasons']
    # hubble observe --debug writes Relay's NODE_CONNECTED status (and two log lines) to stderr; captured 2>file
    assert status['coverage']['node_status'] == {'netobs-node': 'NODE_CONNECTED'}
    assert status['coverage']['malformed']['count'] == 2
