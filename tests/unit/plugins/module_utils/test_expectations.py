# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Expectations: schema, loader errors, selector matching, the judge's verdicts and the baseline diff."""

from __future__ import annotations

import json
import os

import jsonschema
import pytest
import yaml

from ansible_collections.netobs.cilium.plugins.module_utils.verdicts import expectations as exp
from ansible_collections.netobs.cilium.plugins.module_utils.verdicts.expectations import Observation, Peer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
EXAMPLE = os.path.join(REPO, 'examples', 'reference-experiment', 'expectations.yml')

NETSHOT = Peer(namespace='cni-test', pod='netshot', workload='netshot', labels={'run': 'netshot'}, ip='10.0.0.12')
CONTROL = Peer(namespace='cni-test', pod='netshot-control', workload='netshot-control', labels={'run': 'netshot-control'})
NGINX = Peer(namespace='cni-test', pod='nginx-7c5ddbdf54-8xkqz', pods=('nginx-7c5ddbdf54-8xkqz',), workload='nginx',
             labels={'app': 'nginx', 'pod-template-hash': '7c5ddbdf54'}, ip='10.0.0.226')
NGINX_NO_LABELS = Peer(namespace='cni-test', pod='nginx-7c5ddbdf54-8xkqz', workload='nginx', labels=None)


def entry(**overrides):
    data = {'name': 'e', 'from': 'cni-test/netshot', 'to': 'cni-test/nginx', 'port': 80, 'expect': 'deny'}
    data.update(overrides)
    return data


def one(**overrides) -> exp.Expectation:
    return exp.load_expectations([entry(**overrides)])[0]


def drop(src=NETSHOT, dst=NGINX, port=80, protocol='TCP', reason='POLICY_DENIED', ref='v-1', origin='violation', count=2):
    return Observation(kind='drop', origin=origin, ref=ref, src=src, dst=dst, protocol=protocol, port=port, reason=reason, count=count,
                       text=f'{ref} drop')


def allowed(src=NETSHOT, dst=NGINX, port=80, protocol='TCP', ref='flow x', origin='flow'):
    return Observation(kind='allowed', origin=origin, ref=ref, src=src, dst=dst, protocol=protocol, port=port, text=f'{ref} allowed')


# -- schema and loader -------------------------------------------------------------------------------------
def test_shipped_schema_file_is_the_embedded_schema_and_accepts_the_example():
    with open(os.path.join(REPO, 'docs', 'schemas', 'expectations.schema.json'), encoding='utf-8') as handle:
        shipped = json.load(handle)
    assert shipped == exp.EXPECTATIONS_SCHEMA
    jsonschema.Draft202012Validator.check_schema(shipped)
    with open(EXAMPLE, encoding='utf-8') as handle:
        document = yaml.safe_load(handle)
    jsonschema.Draft202012Validator(shipped).validate(document)
    loaded = exp.read_expectations_file(EXAMPLE)
    assert [e.name for e in loaded] == ['netshot-cannot-reach-nginx', 'control-reaches-nginx', 'netshot-resolves-names']
    first = loaded[0]
    assert (first.expect, first.protocol, first.port_range, first.controls) == ('deny', 'TCP', (80, 80), ('CIS-5.3.2', 'NETSEC-EGRESS-01'))
    assert first.source.kind == 'workload' and first.destination.kind == 'labels'


# (document, message, the JSON schema also rejects it): semantic checks (duplicates, DNS names, CIDRs...) are the loader's.
@pytest.mark.parametrize('document, message, schema_rejects', [
    ({'expectations': [entry(protcol='TCP')]}, "unknown key(s) protcol", True),
    ({'expectations': [entry(expect='block')]}, "'block' is not one of deny, allow", True),
    ({'expectations': [entry(name=None)]}, 'missing required key(s) name', True),
    ({'expectations': [entry(), entry()]}, "name 'e' is already used by expectations[0]", False),
    ({'expectations': [entry(port=70000)]}, 'out of range', True),
    ({'expectations': [entry(port='http')]}, 'named ports are not supported', True),
    ({'expectations': [entry(protocol='ICMP')]}, 'ICMP has no ports', False),
    ({'expectations': [entry(protocol='GRE', port=None)]}, "'GRE' is not one of", True),
    ({'expectations': [entry(**{'from': 'Bad_NS/x'})]}, "namespace 'Bad_NS' is not a DNS-1123 label", False),
    ({'expectations': [entry(**{'from': 'netshot'})]}, "'netshot' is not a selector", False),
    ({'expectations': [entry(to={'cidr': '10.0.0.300/8'})]}, 'is not an IP address or CIDR', False),
    ({'expectations': [entry(to={'entity': 'world', 'namespace': 'x'})]}, 'entity cannot be combined with namespace', False),
    ({'expectations': [entry(to={'workload': 'nginx'})]}, 'workload and pod need a namespace', False),
    ({'expectations': [entry(to={'namespace': 'a', 'selector': {'matchExpressions': [{'key': 'app', 'operator': 'Near'}]}})]}, 'Near', False),
    ({'expectations': [entry(to={'namespace': 'a', 'colour': 'red'})]}, 'unknown key(s) colour', True),
    ({'expectations': [entry(controls='CIS-1')]}, 'controls: expected a list of control ids', True),
    ({'schema_version': 2, 'expectations': []}, 'schema_version 2 is not supported', True),
    ({'expectation': []}, 'unknown top-level key(s) expectation', True),
])
def test_loader_errors_name_the_entry_the_field_and_the_fix(document, message, schema_rejects):
    with pytest.raises(exp.ExpectationError) as info:
        exp.load_expectations(document, source='x.yml')
    assert message in str(info.value)
    assert str(info.value).startswith('x.yml')
    schema_errors = list(jsonschema.Draft202012Validator(exp.EXPECTATIONS_SCHEMA).iter_errors(document))
    assert bool(schema_errors) is schema_rejects


def test_loader_defaults_and_accepted_forms(tmp_path):
    loaded = exp.load_expectations([
        entry(name='a'),
        entry(name='b', port=None),
        entry(name='c', port='8000-8080', protocol='udp'),
        entry(name='d', to={'cidr': ['10.0.0.0/8'], 'except': ['10.0.0.0/24']}, port=None, protocol='ICMP'),
        entry(name='e', to='world', **{'from': {'namespace': '*', 'selector': {'matchExpressions': [
            {'key': 'run', 'operator': 'In', 'values': ['netshot', 'x']}]}}}),
    ])
    assert [x.protocol for x in loaded] == ['TCP', 'ANY', 'UDP', 'ICMP', 'TCP']
    assert loaded[2].port_range == (8000, 8080) and loaded[2].l4_text() == 'UDP/8000-8080'
    assert loaded[1].l4_text() == 'any traffic'
    assert loaded[4].source.text == '* [run in (netshot,x)]'
    path = tmp_path / 'exp.json'
    path.write_text(json.dumps({'schema_version': 1, 'expectations': [entry()]}))
    assert exp.read_expectations_file(str(path))[0].name == 'e'
    (tmp_path / 'bad.yml').write_text('expectations: [\n')
    with pytest.raises(exp.ExpectationError, match='is not valid YAML'):
        exp.read_expectations_file(str(tmp_path / 'bad.yml'))
    with pytest.raises(exp.ExpectationError, match='does not exist'):
        exp.read_expectations_file(str(tmp_path / 'missing.yml'))


# -- matching ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize('selector, peer, expected', [
    ('cni-test/nginx', NGINX, True),                                   # workload name
    ('cni-test/nginx-7c5ddbdf54-8xkqz', NGINX, True),                  # pod name
    ('cni-test/nginx-*', NGINX, True),                                 # glob
    ('cni-test/netshot', CONTROL, False),                              # no prefix matching without a glob
    ('cni-test/*', CONTROL, True),
    ('other/*', CONTROL, False),
    ({'namespace': 'cni-test', 'labels': {'app': 'nginx'}}, NGINX, True),
    ({'namespace': 'cni-test', 'labels': {'app': 'nginx'}}, NETSHOT, False),
    ({'namespace': 'cni-test', 'labels': {'app': 'nginx'}}, NGINX_NO_LABELS, None),   # undecidable without labels
    ({'labels': {'run': 'netshot'}}, NETSHOT, True),                   # any namespace
    ({'namespace': 'cni-test', 'pod': 'nginx-*'}, NGINX, True),
    ('world', Peer(entity='world', ip='8.8.8.8'), True),
    ('world', Peer(ip='8.8.8.8'), True),                               # a bare IP outside the cluster
    ('world', NETSHOT, False),
    ('world-ipv6', Peer(entity='world', ip='2001:db8::1'), True),
    ('world-ipv6', Peer(entity='world', ip='8.8.8.8'), False),
    ('cluster', NETSHOT, True),
    ('cluster', Peer(entity='remote-node', ip='172.18.0.3'), True),
    ('cluster', Peer(entity='world', ip='1.1.1.1'), False),
    ('host', Peer(entity='host'), True),
    ('all', Peer(), True),
    ('10.0.0.0/24', NGINX, True),
    ('10.0.0.12', NGINX, False),
    ({'cidr': '10.0.0.0/8', 'except': ['10.0.0.224/27']}, NGINX, False),
    ({'cidr': '10.0.0.0/8', 'except': ['10.0.0.224/27']}, NETSHOT, True),
    ('10.0.0.0/8', Peer(namespace='x', pod='y'), False),               # no IP known
])
def test_selector_matching(selector, peer, expected):
    assert exp.parse_selector(selector, 'to').matches(peer) is expected


def test_expectation_l4_matching():
    tcp80 = one()
    assert tcp80.matches(NETSHOT, NGINX, 'TCP', 80) is True
    assert tcp80.matches(NETSHOT, NGINX, 'UDP', 80) is False
    assert tcp80.matches(NETSHOT, NGINX, 'TCP', 443) is False
    assert tcp80.matches(NGINX, NETSHOT, 'TCP', 80) is False          # direction matters
    icmp = one(port=None, protocol='ICMP')
    assert icmp.matches(NETSHOT, NGINX, 'ICMPv4', None) and icmp.matches(NETSHOT, NGINX, 'ICMPv6', None)
    anything = one(port=None, protocol='ANY')
    assert anything.matches(NETSHOT, NGINX, 'SCTP', None)
    assert one(port='79-81').matches(NETSHOT, NGINX, 'TCP', 81)


# -- the judge --------------------------------------------------------------------------------------------
def verdicts(expectations, observations, predict=None):
    result = exp.judge(expectations, observations, predict)
    return {r['name']: (r['verdict'], r['category']) for r in result.expectations}, result


def test_deny_expectation_verdicts():
    deny = one(name='deny')
    assert verdicts([deny], [drop()])[0] == {'deny': ('pass', 'control_proven')}
    assert verdicts([deny], [])[0] == {'deny': ('fail', 'control_unproven')}
    # A drop for a reason that is not a policy decision does not prove the control.
    table, result = verdicts([deny], [drop(reason='CT_MAP_INSERTION_FAILED')])
    assert table == {'deny': ('fail', 'control_unproven')}
    assert 'non-policy reason' in result.expectations[0]['explanation']
    # Allowed traffic (a forwarded flow or a successful probe) contradicts it, even when drops were seen too.
    table, result = verdicts([deny], [drop(), allowed()])
    assert table == {'deny': ('fail', 'unexpected_allow')}
    assert 'must be denied, but 1 observation(s) show it allowed' in result.expectations[0]['explanation']
    assert verdicts([deny], [allowed(origin='probe', ref='probe:p')])[0] == {'deny': ('fail', 'unexpected_allow')}


def test_allow_expectation_verdicts_and_predictions():
    allow = one(name='allow', expect='allow', **{'from': 'cni-test/netshot-control'})
    assert verdicts([allow], [])[0] == {'allow': ('pass', 'allow_not_contradicted')}
    assert verdicts([allow], [allowed(src=CONTROL)])[0] == {'allow': ('pass', 'allow_observed')}
    table, result = verdicts([allow], [drop(src=CONTROL)])
    assert table == {'allow': ('fail', 'outage_risk')} and result.classification == {'v-1': {'classification': 'outage_risk', 'expectation': 'allow'}}
    assert verdicts([allow], [drop(src=CONTROL, origin='probe', ref='probe:c', reason='PROBE_FAILED')])[0] == {'allow': ('fail', 'outage_risk')}
    # Nothing observed, but the current policies would deny it: a predicted outage.
    table, result = verdicts([allow], [], predict=lambda e: {'verdict': 'deny', 'explanation': 'policy X isolates it'})
    assert table == {'allow': ('fail', 'outage_risk')}
    assert result.expectations[0]['basis'] == 'predicted' and 'policy X isolates it' in result.expectations[0]['explanation']
    deny = one(name='deny')
    _table, result = verdicts([deny], [], predict=lambda e: {'verdict': 'allow', 'explanation': 'no policy selects it'})
    assert 'ALLOW it, so the control looks missing' in result.expectations[0]['explanation']


def test_violations_are_classified_by_the_first_matching_expectation():
    expectations = exp.load_expectations([entry(name='deny'), entry(name='allow-all', expect='allow', to='cni-test/*')])
    observations = [drop(ref='v-a'), drop(ref='v-b', dst=CONTROL), drop(ref='v-c', src=CONTROL, dst=NETSHOT, port=22)]
    table, result = verdicts(expectations, observations)
    assert result.classification == {
        'v-a': {'classification': 'expected', 'expectation': 'deny'},
        'v-b': {'classification': 'outage_risk', 'expectation': 'allow-all'},
        'v-c': {'classification': 'unreviewed', 'expectation': None},
    }
    # Every matching expectation is judged on its own: the allow-all expectation sees two drops.
    assert table == {'deny': ('pass', 'control_proven'), 'allow-all': ('fail', 'outage_risk')}
    assert result.expectations[1]['violations'] == ['v-a', 'v-b']


def test_label_selectors_without_labels_are_reported_as_undecidable():
    labelled = exp.load_expectations([entry(to={'namespace': 'cni-test', 'labels': {'app': 'nginx'}})])
    table, result = verdicts(labelled, [drop(dst=NGINX_NO_LABELS)])
    assert table == {'e': ('fail', 'control_unproven')}
    assert 'label selector needs pod labels' in result.expectations[0]['notes'][0]


def test_baseline_diff():
    before = {'run': {'generated_at': '2025-05-30T00:00:00Z'},
              'violations': [{'id': 'v-old', 'key': 'k1', 'summary': 'old'}, {'id': 'v-both', 'key': 'k2'}],
              'expectations': [{'name': 'a', 'verdict': 'pass', 'category': 'control_proven'}, {'name': 'gone', 'verdict': 'pass'}]}
    after = {'violations': [{'id': 'v-both'}, {'id': 'v-new'}],
             'expectations': [{'name': 'a', 'verdict': 'fail', 'category': 'control_unproven'}, {'name': 'b', 'verdict': 'pass', 'category': 'x'}]}
    diff = exp.diff_baseline(after, before, 'prev.json')
    assert (diff['new'], diff['resolved'], diff['persisting']) == (['v-new'], ['v-old'], ['v-both'])
    assert diff['resolved_details'] == [{'id': 'v-old', 'key': 'k1', 'summary': 'old'}]
    assert diff['generated_at'] == '2025-05-30T00:00:00Z' and diff['source'] == 'prev.json'
    changes = {c['name']: (c['before'], c['after']) for c in diff['expectation_changes']}
    assert changes == {'a': ('pass', 'fail'), 'b': (None, 'pass'), 'gone': ('pass', None)}
