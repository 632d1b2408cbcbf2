# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared inputs for the report tests: the shipped reference-experiment capture and hostile cluster data.

Imported as ``import report_samples`` (the root conftest puts ``tests/`` on ``sys.path``); not a test module.
"""

from __future__ import annotations

import datetime
import functools
import json
import os

from ansible_collections.netobs.cilium.plugins.module_utils.report import collect as pipeline
from ansible_collections.netobs.cilium.plugins.module_utils.report import build as report_model
from ansible_collections.netobs.cilium.plugins.module_utils.verdicts import expectations as exp
from ansible_collections.netobs.cilium.plugins.module_utils.attribution.snapshot import PolicySnapshot

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The hand-made capture with the cases a short real run does not produce (2 lost Hubble events, ...); make demo
# replays the real one in examples/reference-experiment.
EXAMPLE = os.path.join(REPO, 'tests', 'fixtures', 'reference-experiment-synthetic')
SCHEMAS = os.path.join(REPO, 'docs', 'schemas')
JUNIT_XSD = os.path.join(REPO, 'tests', 'fixtures', 'junit', 'junit.xsd')
NOW = datetime.datetime(2025, 6, 1, 8, 0, 0, tzinfo=datetime.timezone.utc)

# Payloads that change the page (title, DOM) if they are ever interpreted as markup or script.
SCRIPT = "<script>document.title='PWNED'</script>"
IMG = '<img src=x onerror="document.title=\'PWNED\'">'
DIV = '<div id="pwned">injected</div>'
SVG_BREAK = "</text></svg><svg onload=\"document.title='PWNED'\"><script>document.title='PWNED'</script>"
QUOTES = '" onmouseover="document.title=\'PWNED\'" x="'
JS_URL = 'javascript:alert(document.domain)'
AMP = '&lt;script&gt;alert(1)&lt;/script&gt; &amp;lt;b&amp;gt;'
HOSTILE = (SCRIPT, IMG, DIV, SVG_BREAK, QUOTES, JS_URL, AMP)


def schema(name: str) -> dict:
    with open(os.path.join(SCHEMAS, f'{name}.schema.json'), encoding='utf-8') as handle:
        return json.load(handle)


@functools.lru_cache(maxsize=None)
def _collected():
    events = pipeline.drop_events(src=os.path.join(EXAMPLE, 'events.json'))[0]
    dropped = pipeline.hubble_flows(transport='file', src=os.path.join(EXAMPLE, 'flows.jsonl'), verdicts=['DROPPED'])[0]
    forwarded = pipeline.hubble_flows(transport='file', src=os.path.join(EXAMPLE, 'flows.jsonl'),
                                      verdicts=['FORWARDED', 'AUDIT'], max_drops=0)[0]
    return json.dumps([events, dropped, forwarded])


def example_evidence() -> list[dict]:
    """Results of drop_events_info, hubble_flows_info (DROPPED) and (FORWARDED) over the shipped capture."""
    return json.loads(_collected())


def example_snapshot() -> PolicySnapshot:
    return PolicySnapshot.from_files([os.path.join(EXAMPLE, name) for name in ('namespaces.yaml', 'pods.yaml', 'policies.yaml')])


def example_expectations() -> list:
    return exp.read_expectations_file(os.path.join(EXAMPLE, 'expectations.yml'))


def example_probes() -> list:
    with open(os.path.join(EXAMPLE, 'probes.json'), encoding='utf-8') as handle:
        return [json.load(handle)]


def example_report(**overrides) -> dict:
    options = {'cluster': 'kind-reference', 'evidence': example_evidence(), 'snapshot': example_snapshot(),
               'expectations': example_expectations(), 'probes': example_probes(), 'emitter_interval': '5s', 'now': NOW}
    options.update(overrides)
    return report_model.build_report(**options)


def hostile_evidence() -> list[dict]:
    """One events-like collector result whose every string is an injection attempt."""
    source = {'namespace': 'cni-test', 'workload': SCRIPT, 'kind': 'Pod', 'pods': [IMG, DIV], 'reserved': None, 'ip': None}
    destination = {'namespace': None, 'workload': None, 'kind': None, 'pods': [], 'reserved': SVG_BREAK, 'ip': JS_URL}
    violation = {
        'key': f'egress|{SCRIPT}|{JS_URL}|TCP|80|POLICY_DENIED', 'direction': 'egress', 'source': source, 'destination': destination,
        'protocol': 'TCP', 'port': 80, 'reason': 'POLICY_DENIED' + QUOTES, 'count': 3, 'count_by_kind': {'event': 3, 'flow': 0},
        'first_seen': '2025-05-31T05:24:48Z', 'last_seen': '2025-05-31T05:25:23Z', 'nodes': [DIV],
        'samples': [{'kind': 'event', 'ref': JS_URL}],
        'policies': [{'relation': 'denied_by', 'kind': 'CiliumNetworkPolicy', 'namespace': AMP, 'name': SVG_BREAK, 'clusterwide': False,
                      'revision': 1}],
        'evidence_kinds': ['event'],
    }
    drop = {
        'time': '2025-05-31T05:24:48Z', 'node': IMG, 'direction': 'egress', 'verdict': 'DROPPED', 'reason': 'POLICY_DENIED',
        'reason_code': 133, 'event_type': None, 'protocol': 'TCP', 'port': 80, 'tcp_flags': [],
        'source': {'namespace': 'cni-test', 'pod': IMG, 'workload': {'kind': 'Pod', 'name': SCRIPT}, 'labels': [f'k8s:app={QUOTES}'],
                   'identity': None, 'reserved': None, 'ip': None},
        'destination': {'namespace': None, 'pod': None, 'workload': None, 'labels': [], 'identity': None, 'reserved': SVG_BREAK, 'ip': JS_URL},
        'policies': [],
        'evidence': {'kind': 'event', 'event': {'namespace': 'cni-test', 'name': DIV, 'uid': None, 'count': 3, 'first_seen': None, 'last_seen': AMP},
                     'flow_uuid': None, 'file': None, 'line': None},
        'count': 3, 'unparsed': None,
    }
    return [{
        'drops': [drop], 'drops_truncated': False, 'violations': [violation], 'events_total': 1,
        'unparsed': {'count': 1, 'samples': [{'namespace': 'x', 'name': 'y', 'message': SCRIPT}]},
        'coverage': {'oldest_event': '2025-05-31T05:24:48Z', 'newest_event': '2025-05-31T05:25:23Z', 'since': None,
                     'ttl_warning': f'{SCRIPT} {JS_URL}'},
        'partial': True, 'partial_reasons': [IMG],
    }]


def hostile_expectations() -> list:
    return exp.load_expectations([
        {'name': SCRIPT, 'from': 'cni-test/*', 'to': 'world', 'port': 80, 'expect': 'allow', 'controls': [IMG, JS_URL],
         'description': f'{DIV} {QUOTES} {AMP}'},
        {'name': f'unproven {SVG_BREAK}', 'from': {'namespace': 'cni-test', 'labels': {'app': 'nginx'}}, 'to': '10.0.0.0/8',
         'expect': 'deny', 'controls': [AMP], 'description': JS_URL},
    ])


def hostile_report(**overrides) -> dict:
    options = {'cluster': f'{SCRIPT}{QUOTES}', 'evidence': hostile_evidence(), 'expectations': hostile_expectations(),
               'probes': [{'name': DIV, 'from': 'cni-test/netshot', 'to': '10.0.0.9', 'port': 80, 'outcome': 'allowed', 'detail': SVG_BREAK}],
               'emitter_interval': IMG, 'event_ttl': AMP, 'now': NOW}
    options.update(overrides)
    return report_model.build_report(**options)
