# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes NetworkPolicy semantics as truth tables.

Each row: the policies in force, a connection (source, destination, protocol/port), the expected
verdict and WHO decides it: for ``deny`` the policies responsible (``ns/name``), for ``allow`` the
allowing rules (``ns/name:rule``, both directions), ``()`` when nothing selects. Expectations are
written by hand from the Kubernetes NetworkPolicy documentation.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils.attribution.attribute import evaluate
from ansible_collections.netobs.cilium.plugins.module_utils.attribution.netpol import (
    EvalOptions,
    PolicyParseError,
    compile_network_policy,
    normalize_protocol,
)
from ansible_collections.netobs.cilium.plugins.module_utils.attribution.snapshot import PolicySnapshot

# -- the cluster ---------------------------------------------------------------------------------------
NAMESPACES = {'app': {'team': 'app'}, 'db': {'team': 'db', 'tier': 'data'}, 'other': {'team': 'other'}}


def _pod(namespace, name, labels, ip, ports=None, node='node-a', host_network=False):
    containers = [{'name': 'c', 'ports': [{'name': n, 'containerPort': p, 'protocol': proto} for n, (p, proto) in (ports or {}).items()]}]
    return {'kind': 'Pod', 'metadata': {'namespace': namespace, 'name': name, 'labels': labels},
            'spec': {'nodeName': node, 'hostNetwork': host_network, 'containers': containers},
            'status': {'phase': 'Running', 'podIP': ip}}


CLUSTER = [
    *({'kind': 'Namespace', 'metadata': {'name': n, 'labels': dict(labels, **{'kubernetes.io/metadata.name': n})}}
      for n, labels in NAMESPACES.items()),
    {'kind': 'Node', 'metadata': {'name': 'node-a'}, 'status': {'addresses': [{'type': 'InternalIP', 'address': '192.168.0.1'}]}},
    {'kind': 'Node', 'metadata': {'name': 'node-b'}, 'status': {'addresses': [{'type': 'InternalIP', 'address': '192.168.0.2'}]}},
    _pod('app', 'web', {'role': 'web'}, '10.1.0.10', {'http': (8080, 'TCP')}),
    _pod('app', 'api', {'role': 'api', 'tier': 'backend'}, '10.1.0.11', {'grpc': (9090, 'TCP'), 'dns': (53, 'UDP')}),
    _pod('app', 'client', {'role': 'client'}, '10.1.0.12'),
    _pod('app', 'web6', {'role': 'web6'}, 'fd00::10', {'http': (8080, 'TCP')}),
    _pod('db', 'postgres', {'role': 'db'}, '10.1.1.10', {'pg': (5432, 'TCP')}),
    _pod('db', 'client', {'role': 'client'}, '10.1.1.11'),
    _pod('other', 'client', {'role': 'client'}, '10.1.2.10'),
    _pod('app', 'agent', {'role': 'agent'}, '192.168.0.2', node='node-b', host_network=True),
]

# -- the policies (namespace/name -> spec) ----------------------------------------------------------------
SEL_WEB = {'matchLabels': {'role': 'web'}}
SEL_CLIENT = {'matchLabels': {'role': 'client'}}
P = {
    'app/deny-web-ingress': {'podSelector': SEL_WEB, 'policyTypes': ['Ingress']},
    'app/deny-all': {'podSelector': {}, 'policyTypes': ['Ingress', 'Egress']},
    'app/deny-all-ingress': {'podSelector': {}},
    'db/deny-all': {'podSelector': {}, 'policyTypes': ['Ingress', 'Egress']},
    'app/allow-all-ingress': {'podSelector': SEL_WEB, 'ingress': [{}]},
    'app/web-from-clients': {'podSelector': SEL_WEB, 'ingress': [{'from': [{'podSelector': SEL_CLIENT}]}]},
    'app/web-from-db-ns': {'podSelector': SEL_WEB, 'ingress': [{'from': [{'namespaceSelector': {'matchLabels': {'team': 'db'}}}]}]},
    'app/web-from-db-clients-and': {'podSelector': SEL_WEB, 'ingress': [{'from': [
        {'namespaceSelector': {'matchLabels': {'team': 'db'}}, 'podSelector': SEL_CLIENT}]}]},
    'app/web-from-db-or-clients': {'podSelector': SEL_WEB, 'ingress': [{'from': [
        {'namespaceSelector': {'matchLabels': {'team': 'db'}}}, {'podSelector': SEL_CLIENT}]}]},
    'app/web-from-clients-any-ns': {'podSelector': SEL_WEB, 'ingress': [{'from': [{'namespaceSelector': {}, 'podSelector': SEL_CLIENT}]}]},
    'app/web-from-in': {'podSelector': SEL_WEB, 'ingress': [{'from': [{'podSelector': {
        'matchExpressions': [{'key': 'role', 'operator': 'In', 'values': ['client', 'api']}]}}]}]},
    'app/web-from-notin': {'podSelector': SEL_WEB, 'ingress': [{'from': [{'podSelector': {
        'matchExpressions': [{'key': 'role', 'operator': 'NotIn', 'values': ['client']}]}}]}]},
    'app/web-from-not-backend': {'podSelector': SEL_WEB, 'ingress': [{'from': [{'podSelector': {
        'matchExpressions': [{'key': 'tier', 'operator': 'NotIn', 'values': ['backend']}]}}]}]},
    'app/web-from-exists': {'podSelector': SEL_WEB, 'ingress': [{'from': [{'podSelector': {
        'matchExpressions': [{'key': 'tier', 'operator': 'Exists'}]}}]}]},
    'app/web-from-doesnotexist': {'podSelector': SEL_WEB, 'ingress': [{'from': [{'podSelector': {
        'matchExpressions': [{'key': 'tier', 'operator': 'DoesNotExist'}]}}]}]},
    'app/web-tcp-8080': {'podSelector': SEL_WEB, 'ingress': [{'ports': [{'protocol': 'TCP', 'port': 8080}]}]},
    'app/web-8080-default-proto': {'podSelector': SEL_WEB, 'ingress': [{'ports': [{'port': 8080}]}]},
    'app/web-udp-53': {'podSelector': SEL_WEB, 'ingress': [{'ports': [{'protocol': 'UDP', 'port': 53}]}]},
    'app/web-sctp': {'podSelector': SEL_WEB, 'ingress': [{'ports': [{'protocol': 'SCTP', 'port': 9999}]}]},
    'app/web-range': {'podSelector': SEL_WEB, 'ingress': [{'ports': [{'protocol': 'TCP', 'port': 8000, 'endPort': 8100}]}]},
    'app/web-named-http': {'podSelector': SEL_WEB, 'ingress': [{'ports': [{'port': 'http'}]}]},
    'app/web-named-grpc': {'podSelector': SEL_WEB, 'ingress': [{'ports': [{'port': 'grpc'}]}]},
    'app/web-named-http-udp': {'podSelector': SEL_WEB, 'ingress': [{'ports': [{'protocol': 'UDP', 'port': 'http'}]}]},
    'app/web-clients-all-ports': {'podSelector': SEL_WEB, 'ingress': [{'from': [{'podSelector': SEL_CLIENT}]}]},
    'app/web-from-testnet': {'podSelector': SEL_WEB, 'ingress': [{'from': [{'ipBlock': {'cidr': '203.0.113.0/24'}}]}]},
    'app/web-from-testnet-except': {'podSelector': SEL_WEB, 'ingress': [{'from': [
        {'ipBlock': {'cidr': '203.0.113.0/24', 'except': ['203.0.113.128/25']}}]}]},
    'app/web-from-podcidr': {'podSelector': SEL_WEB, 'ingress': [{'from': [{'ipBlock': {'cidr': '10.1.0.0/16'}}]}]},
    'app/web6-from-v6': {'podSelector': {'matchLabels': {'role': 'web6'}}, 'ingress': [{'from': [
        {'ipBlock': {'cidr': '2001:db8::/32', 'except': ['2001:db8:1::/48']}}]}]},
    'app/web-from-all-pods': {'podSelector': SEL_WEB, 'ingress': [{'from': [{'podSelector': {}}]}]},
    'app/web-egress-only': {'podSelector': SEL_WEB, 'policyTypes': ['Egress'], 'egress': [{}]},
    'app/web-egress-dns-defaulted': {'podSelector': SEL_WEB, 'egress': [{'ports': [{'protocol': 'UDP', 'port': 53}]}]},
    'app/web-ingress-defaulted': {'podSelector': SEL_WEB, 'ingress': [{'from': [{'podSelector': SEL_CLIENT}]}]},
    'app/web-empty-egress-list': {'podSelector': SEL_WEB, 'ingress': [{}], 'egress': []},
    'app/client-deny-egress': {'podSelector': SEL_CLIENT, 'policyTypes': ['Egress']},
    'app/client-to-db': {'podSelector': SEL_CLIENT, 'policyTypes': ['Egress'], 'egress': [{
        'to': [{'namespaceSelector': {'matchLabels': {'team': 'db'}}}], 'ports': [{'protocol': 'TCP', 'port': 5432}]}]},
    'app/client-to-named-pg': {'podSelector': SEL_CLIENT, 'policyTypes': ['Egress'], 'egress': [{
        'to': [{'namespaceSelector': {'matchLabels': {'team': 'db'}}}], 'ports': [{'port': 'pg'}]}]},
    'app/client-to-internet': {'podSelector': SEL_CLIENT, 'policyTypes': ['Egress'], 'egress': [{
        'to': [{'ipBlock': {'cidr': '0.0.0.0/0', 'except': ['10.0.0.0/8']}}]}]},
    'app/client-dns': {'podSelector': SEL_CLIENT, 'policyTypes': ['Egress'], 'egress': [{
        'to': [{'namespaceSelector': {}, 'podSelector': {'matchLabels': {'role': 'api'}}}], 'ports': [{'protocol': 'UDP', 'port': 53}]}]},
    'app/web-two-rules': {'podSelector': SEL_WEB, 'ingress': [
        {'from': [{'podSelector': {'matchLabels': {'role': 'api'}}}]},
        {'from': [{'podSelector': SEL_CLIENT}], 'ports': [{'port': 9000}, {'port': 8080}]}]},
    'app/api-and-selector': {'podSelector': {'matchLabels': {'role': 'api'}, 'matchExpressions': [
        {'key': 'tier', 'operator': 'In', 'values': ['frontend']}]}, 'policyTypes': ['Ingress']},
}


def _policy_obj(ref: str) -> dict:
    namespace, name = ref.split('/')
    return {'apiVersion': 'networking.k8s.io/v1', 'kind': 'NetworkPolicy',
            'metadata': {'namespace': namespace, 'name': name, 'uid': f'uid-{name}'}, 'spec': P[ref]}


def snapshot(*refs: str) -> PolicySnapshot:
    return PolicySnapshot.from_objects(CLUSTER + [_policy_obj(ref) for ref in refs])


def _l4(text: str):
    protocol, _sep, port = text.partition('/')
    return normalize_protocol(protocol), (int(port) if port else None)


class Case(NamedTuple):
    id: str
    policies: tuple
    src: str
    dst: str
    l4: str
    verdict: str
    by: tuple


CASES = [
    # --- no policy: default allow
    Case('no-policy', (), 'app/client', 'app/web', 'TCP/8080', 'allow', ()),
    # --- isolation
    Case('deny-ingress-selected-pod', ('app/deny-web-ingress',), 'app/client', 'app/web', 'TCP/8080', 'deny', ('app/deny-web-ingress',)),
    Case('deny-ingress-other-pod-unaffected', ('app/deny-web-ingress',), 'app/client', 'app/api', 'TCP/9090', 'allow', ()),
    Case('empty-podselector-selects-namespace', ('app/deny-all-ingress',), 'app/client', 'app/api', 'TCP/9090', 'deny', ('app/deny-all-ingress',)),
    Case('policy-only-in-its-namespace', ('app/deny-all',), 'db/client', 'db/postgres', 'TCP/5432', 'allow', ()),
    Case('allow-all-ingress-rule', ('app/allow-all-ingress',), 'other/client', 'app/web', 'TCP/1234', 'allow', ('app/allow-all-ingress:ingress[0]',)),
    Case('allow-all-ingress-rule-world', ('app/allow-all-ingress',), '198.51.100.7', 'app/web', 'UDP/9', 'allow', ('app/allow-all-ingress:ingress[0]',)),
    # --- peers: podSelector / namespaceSelector / AND / OR
    Case('podselector-same-namespace', ('app/web-from-clients',), 'app/client', 'app/web', 'TCP/8080', 'allow', ('app/web-from-clients:ingress[0]',)),
    Case('podselector-not-other-namespace', ('app/web-from-clients',), 'db/client', 'app/web', 'TCP/8080', 'deny', ('app/web-from-clients',)),
    Case('namespaceselector-match', ('app/web-from-db-ns',), 'db/postgres', 'app/web', 'TCP/8080', 'allow', ('app/web-from-db-ns:ingress[0]',)),
    Case('namespaceselector-no-match', ('app/web-from-db-ns',), 'app/client', 'app/web', 'TCP/8080', 'deny', ('app/web-from-db-ns',)),
    Case('and-peer-both-match', ('app/web-from-db-clients-and',), 'db/client', 'app/web', 'TCP/8080', 'allow', ('app/web-from-db-clients-and:ingress[0]',)),
    Case('and-peer-pod-mismatch', ('app/web-from-db-clients-and',), 'db/postgres', 'app/web', 'TCP/8080', 'deny', ('app/web-from-db-clients-and',)),
    Case('and-peer-namespace-mismatch', ('app/web-from-db-clients-and',), 'other/client', 'app/web', 'TCP/8080', 'deny', ('app/web-from-db-clients-and',)),
    Case('or-peers-namespace-branch', ('app/web-from-db-or-clients',), 'db/postgres', 'app/web', 'TCP/8080', 'allow',
         ('app/web-from-db-or-clients:ingress[0]',)),
    Case('or-peers-pod-branch', ('app/web-from-db-or-clients',), 'app/client', 'app/web', 'TCP/8080', 'allow', ('app/web-from-db-or-clients:ingress[0]',)),
    Case('or-peers-neither', ('app/web-from-db-or-clients',), 'other/client', 'app/web', 'TCP/8080', 'deny', ('app/web-from-db-or-clients',)),
    Case('empty-namespaceselector-all-namespaces', ('app/web-from-clients-any-ns',), 'other/client', 'app/web', 'TCP/8080', 'allow',
         ('app/web-from-clients-any-ns:ingress[0]',)),
    Case('empty-namespaceselector-still-needs-pod', ('app/web-from-clients-any-ns',), 'db/postgres', 'app/web', 'TCP/8080', 'deny',
         ('app/web-from-clients-any-ns',)),
    # --- matchExpressions
    Case('expr-in', ('app/web-from-in',), 'app/api', 'app/web', 'TCP/8080', 'allow', ('app/web-from-in:ingress[0]',)),
    Case('expr-notin-allows-others', ('app/web-from-notin',), 'app/api', 'app/web', 'TCP/8080', 'allow', ('app/web-from-notin:ingress[0]',)),
    Case('expr-notin-excludes', ('app/web-from-notin',), 'app/client', 'app/web', 'TCP/8080', 'deny', ('app/web-from-notin',)),
    Case('expr-notin-absent-key-matches', ('app/web-from-not-backend',), 'app/client', 'app/web', 'TCP/8080', 'allow',
         ('app/web-from-not-backend:ingress[0]',)),
    Case('expr-notin-present-key', ('app/web-from-not-backend',), 'app/api', 'app/web', 'TCP/8080', 'deny', ('app/web-from-not-backend',)),
    Case('expr-exists', ('app/web-from-exists',), 'app/api', 'app/web', 'TCP/8080', 'allow', ('app/web-from-exists:ingress[0]',)),
    Case('expr-exists-missing-key', ('app/web-from-exists',), 'app/client', 'app/web', 'TCP/8080', 'deny', ('app/web-from-exists',)),
    Case('expr-doesnotexist', ('app/web-from-doesnotexist',), 'app/client', 'app/web', 'TCP/8080', 'allow', ('app/web-from-doesnotexist:ingress[0]',)),
    Case('expr-doesnotexist-present-key', ('app/web-from-doesnotexist',), 'app/api', 'app/web', 'TCP/8080', 'deny', ('app/web-from-doesnotexist',)),
    Case('subject-selector-and', ('app/api-and-selector',), 'app/client', 'app/api', 'TCP/9090', 'allow', ()),
    # --- ports and protocols
    Case('port-number', ('app/web-tcp-8080',), 'app/client', 'app/web', 'TCP/8080', 'allow', ('app/web-tcp-8080:ingress[0]',)),
    Case('port-number-other-port', ('app/web-tcp-8080',), 'app/client', 'app/web', 'TCP/9090', 'deny', ('app/web-tcp-8080',)),
    Case('protocol-defaults-to-tcp', ('app/web-8080-default-proto',), 'app/client', 'app/web', 'TCP/8080', 'allow', ('app/web-8080-default-proto:ingress[0]',)),
    Case('protocol-default-not-udp', ('app/web-8080-default-proto',), 'app/client', 'app/web', 'UDP/8080', 'deny', ('app/web-8080-default-proto',)),
    Case('udp-port', ('app/web-udp-53',), 'app/client', 'app/web', 'UDP/53', 'allow', ('app/web-udp-53:ingress[0]',)),
    Case('sctp-port', ('app/web-sctp',), 'app/client', 'app/web', 'SCTP/9999', 'allow', ('app/web-sctp:ingress[0]',)),
    Case('sctp-rule-not-tcp', ('app/web-sctp',), 'app/client', 'app/web', 'TCP/9999', 'deny', ('app/web-sctp',)),
    Case('endport-inside', ('app/web-range',), 'app/client', 'app/web', 'TCP/8080', 'allow', ('app/web-range:ingress[0]',)),
    Case('endport-lower-bound', ('app/web-range',), 'app/client', 'app/web', 'TCP/8000', 'allow', ('app/web-range:ingress[0]',)),
    Case('endport-above', ('app/web-range',), 'app/client', 'app/web', 'TCP/8101', 'deny', ('app/web-range',)),
    Case('named-port-ingress', ('app/web-named-http',), 'app/client', 'app/web', 'TCP/8080', 'allow', ('app/web-named-http:ingress[0]',)),
    Case('named-port-other-number', ('app/web-named-http',), 'app/client', 'app/web', 'TCP/80', 'deny', ('app/web-named-http',)),
    Case('named-port-undefined-on-pod', ('app/web-named-grpc',), 'app/client', 'app/web', 'TCP/9090', 'deny', ('app/web-named-grpc',)),
    Case('named-port-protocol-mismatch', ('app/web-named-http-udp',), 'app/client', 'app/web', 'UDP/8080', 'deny', ('app/web-named-http-udp',)),
    Case('ports-only-any-source', ('app/web-tcp-8080',), '198.51.100.7', 'app/web', 'TCP/8080', 'allow', ('app/web-tcp-8080:ingress[0]',)),
    Case('from-only-all-ports-udp', ('app/web-clients-all-ports',), 'app/client', 'app/web', 'UDP/5000', 'allow', ('app/web-clients-all-ports:ingress[0]',)),
    Case('from-only-all-protocols-icmp', ('app/web-clients-all-ports',), 'app/client', 'app/web', 'ICMPv4', 'allow', ('app/web-clients-all-ports:ingress[0]',)),
    Case('icmp-never-matches-port-rule', ('app/web-tcp-8080',), 'app/client', 'app/web', 'ICMPv4', 'deny', ('app/web-tcp-8080',)),
    Case('multiple-rules-second-matches', ('app/web-two-rules',), 'app/client', 'app/web', 'TCP/8080', 'allow', ('app/web-two-rules:ingress[1]',)),
    Case('multiple-rules-port-list-or', ('app/web-two-rules',), 'app/client', 'app/web', 'TCP/9000', 'allow', ('app/web-two-rules:ingress[1]',)),
    Case('multiple-rules-none', ('app/web-two-rules',), 'app/client', 'app/web', 'TCP/9001', 'deny', ('app/web-two-rules',)),
    # --- ipBlock
    Case('ipblock-world', ('app/web-from-testnet',), '203.0.113.5', 'app/web', 'TCP/8080', 'allow', ('app/web-from-testnet:ingress[0]',)),
    Case('ipblock-world-outside', ('app/web-from-testnet',), '198.51.100.1', 'app/web', 'TCP/8080', 'deny', ('app/web-from-testnet',)),
    Case('ipblock-except-excluded', ('app/web-from-testnet-except',), '203.0.113.200', 'app/web', 'TCP/8080', 'deny', ('app/web-from-testnet-except',)),
    Case('ipblock-except-kept', ('app/web-from-testnet-except',), '203.0.113.5', 'app/web', 'TCP/8080', 'allow', ('app/web-from-testnet-except:ingress[0]',)),
    Case('ipblock-not-pod-ips-on-cilium', ('app/web-from-podcidr',), 'app/client', 'app/web', 'TCP/8080', 'deny', ('app/web-from-podcidr',)),
    Case('ipblock-v6', ('app/web6-from-v6',), '2001:db8::1', 'app/web6', 'TCP/8080', 'allow', ('app/web6-from-v6:ingress[0]',)),
    Case('ipblock-v6-except', ('app/web6-from-v6',), '2001:db8:1::1', 'app/web6', 'TCP/8080', 'deny', ('app/web6-from-v6',)),
    Case('ipblock-v6-vs-v4-peer', ('app/web6-from-v6',), '203.0.113.5', 'app/web6', 'TCP/8080', 'deny', ('app/web6-from-v6',)),
    Case('podselector-never-matches-world', ('app/web-from-all-pods',), '203.0.113.5', 'app/web', 'TCP/8080', 'deny', ('app/web-from-all-pods',)),
    # --- policyTypes
    Case('egress-only-policy-keeps-ingress-open', ('app/web-egress-only',), 'app/client', 'app/web', 'TCP/8080', 'allow', ()),
    Case('defaulted-types-isolate-egress', ('app/web-egress-dns-defaulted',), 'app/web', 'db/postgres', 'TCP/5432', 'deny', ('app/web-egress-dns-defaulted',)),
    Case('defaulted-types-isolate-ingress-too', ('app/web-egress-dns-defaulted',), 'app/client', 'app/web', 'TCP/8080', 'deny',
         ('app/web-egress-dns-defaulted',)),
    Case('defaulted-types-ingress-only', ('app/web-ingress-defaulted',), 'app/web', '8.8.8.8', 'TCP/443', 'allow', ()),
    Case('empty-egress-list-not-isolating', ('app/web-empty-egress-list',), 'app/web', '8.8.8.8', 'TCP/443', 'allow', ()),
    # --- egress
    Case('egress-deny-all', ('app/client-deny-egress',), 'app/client', '8.8.8.8', 'UDP/53', 'deny', ('app/client-deny-egress',)),
    Case('egress-namespace-port', ('app/client-to-db',), 'app/client', 'db/postgres', 'TCP/5432', 'allow', ('app/client-to-db:egress[0]',)),
    Case('egress-namespace-wrong-port', ('app/client-to-db',), 'app/client', 'db/postgres', 'TCP/5433', 'deny', ('app/client-to-db',)),
    Case('egress-named-port-on-destination', ('app/client-to-named-pg',), 'app/client', 'db/postgres', 'TCP/5432', 'allow',
         ('app/client-to-named-pg:egress[0]',)),
    Case('egress-named-port-destination-lacks-it', ('app/client-to-named-pg',), 'app/client', 'db/client', 'TCP/5432', 'deny',
         ('app/client-to-named-pg',)),
    Case('egress-ipblock-internet', ('app/client-to-internet',), 'app/client', '8.8.8.8', 'TCP/443', 'allow', ('app/client-to-internet:egress[0]',)),
    Case('egress-ipblock-not-pods', ('app/client-to-internet',), 'app/client', 'db/postgres', 'TCP/5432', 'deny', ('app/client-to-internet',)),
    # --- several policies combined
    Case('union-of-egress-policies', ('app/client-dns', 'app/client-to-db'), 'app/client', 'db/postgres', 'TCP/5432', 'allow',
         ('app/client-to-db:egress[0]',)),
    Case('union-all-isolating-policies-responsible', ('app/client-dns', 'app/client-to-db'), 'app/client', '8.8.8.8', 'TCP/443', 'deny',
         ('app/client-dns', 'app/client-to-db')),
    Case('egress-ok-ingress-denied', ('app/client-to-internet', 'app/deny-web-ingress'), 'other/client', 'app/web', 'TCP/8080', 'deny',
         ('app/deny-web-ingress',)),
    Case('egress-denied-ingress-ok', ('app/client-deny-egress', 'app/web-from-clients'), 'app/client', 'app/web', 'TCP/8080', 'deny',
         ('app/client-deny-egress',)),
    Case('both-directions-denied', ('app/client-deny-egress', 'app/deny-web-ingress'), 'app/client', 'app/web', 'TCP/8080', 'deny',
         ('app/client-deny-egress', 'app/deny-web-ingress')),
    Case('egress-policy-blocks-although-ingress-allows', ('app/client-to-db', 'db/deny-all', 'app/web-from-clients'), 'app/client', 'app/web',
         'TCP/8080', 'deny',
         ('app/client-to-db',)),
    # --- identities that are not pods
    Case('host-network-pod-not-enforced', ('app/deny-all',), 'app/agent', '8.8.8.8', 'TCP/443', 'allow', ()),
    Case('host-network-peer-not-a-pod', ('app/web-from-all-pods',), 'app/agent', 'app/web', 'TCP/8080', 'deny', ('app/web-from-all-pods',)),
    Case('local-host-always-allowed', ('app/deny-all',), '192.168.0.1', 'app/web', 'TCP/8080', 'allow', ()),
    Case('remote-node-not-allowed-by-default', ('app/deny-all',), '192.168.0.2', 'app/web', 'TCP/8080', 'deny', ('app/deny-all',)),
]


@pytest.mark.parametrize('case', CASES, ids=[c.id for c in CASES])
def test_networkpolicy_truth_table(case: Case):
    protocol, port = _l4(case.l4)
    decision = evaluate(snapshot(*case.policies), case.src, case.dst, port, protocol)
    assert decision.verdict == case.verdict, decision.explanation()
    if case.verdict == 'deny':
        responsible = {hit.policy.ref for d in decision.denied_by for hit in d.responsible}
        assert responsible == set(case.by), decision.explanation()
        assert {hit.effect for d in decision.denied_by for hit in d.responsible} == {'default-deny'}
    else:
        allowing = {f'{hit.policy.ref}:{hit.rule}' for d in (decision.egress, decision.ingress) for hit in d.allowing}
        assert allowing == set(case.by), decision.explanation()


def test_truth_table_is_big_enough():
    assert len(CASES) >= 40
    assert {c.verdict for c in CASES} == {'allow', 'deny'}


def test_ipblock_can_match_pods_when_asked():
    snap = snapshot('app/web-from-podcidr')
    assert evaluate(snap, 'app/client', 'app/web', 8080, 'TCP').verdict == 'deny'
    decision = evaluate(snap, 'app/client', 'app/web', 8080, 'TCP', options=EvalOptions(ipblock_matches_pods=True))
    assert decision.verdict == 'allow'


def test_node_ips_match_ipblock_only_in_nodes_mode():
    spec = {'podSelector': SEL_WEB, 'ingress': [{'from': [{'ipBlock': {'cidr': '192.168.0.0/24'}}]}]}
    P['app/web-from-nodes'] = spec
    try:
        snap = snapshot('app/web-from-nodes')
        assert evaluate(snap, '192.168.0.2', 'app/web', 8080, 'TCP').verdict == 'deny'
        assert evaluate(snap, '192.168.0.2', 'app/web', 8080, 'TCP', options=EvalOptions(cidr_matches_nodes=True)).verdict == 'allow'
    finally:
        del P['app/web-from-nodes']


def test_default_deny_hit_names_the_section_and_uid():
    decision = evaluate(snapshot('app/web-two-rules'), 'app/client', 'app/web', 9001, 'TCP')
    (hit,) = decision.ingress.responsible
    assert hit.to_dict() == {'kind': 'NetworkPolicy', 'namespace': 'app', 'name': 'web-two-rules', 'uid': 'uid-web-two-rules',
                             'rule': 'ingress', 'effect': 'default-deny'}
    assert decision.egress.effect == 'default-allow'


def test_unknown_port_with_port_rules_is_undecided():
    decision = evaluate(snapshot('app/web-tcp-8080'), 'app/client', 'app/web', None, 'TCP')
    assert decision.verdict == 'unknown'
    assert decision.ingress.effect == 'undecided'
    assert 'destination port is unknown' in decision.ingress.explanation()


def test_named_port_on_pod_missing_from_snapshot_is_undecided():
    snap = snapshot('app/web-named-http')
    destination = {'namespace': 'app', 'pod': 'web-gone', 'labels': {'role': 'web'}}
    decision = evaluate(snap, 'app/client', destination, 8080, 'TCP')
    assert decision.verdict == 'unknown'
    assert 'named ports' in decision.ingress.explanation()


@pytest.mark.parametrize('spec, message', [
    ({'podSelector': {}, 'ingress': [{'from': [{'ipBlock': {'cidr': 'nonsense'}}]}]}, 'is not a CIDR'),
    ({'podSelector': {}, 'ingress': [{'from': [{'ipBlock': {'cidr': '10.0.0.0/8'}, 'podSelector': {}}]}]}, 'cannot be combined'),
    ({'podSelector': {}, 'ingress': [{'from': [{}]}]}, 'needs podSelector'),
    ({'podSelector': {}, 'ingress': [{'ports': [{'protocol': 'ICMP', 'port': 1}]}]}, 'not TCP, UDP or SCTP'),
    ({'podSelector': {}, 'ingress': [{'ports': [{'port': 90, 'endPort': 80}]}]}, 'below port'),
    ({'podSelector': {}, 'ingress': [{'ports': [{'port': 'http', 'endPort': 80}]}]}, 'numeric port'),
    ({'podSelector': {}, 'policyTypes': ['Sideways']}, 'unknown value'),
    ({'podSelector': {'matchExpressions': [{'key': 'a', 'operator': 'In'}]}}, 'at least one value'),
])
def test_invalid_policies_are_rejected_with_a_reason(spec, message):
    record = PolicySnapshot.from_objects([{'kind': 'NetworkPolicy', 'metadata': {'namespace': 'app', 'name': 'bad'}, 'spec': spec}]).policies[0]
    with pytest.raises(PolicyParseError, match=message):
        compile_network_policy(record)


def test_invalid_policy_is_ignored_with_a_warning():
    P['app/bad'] = {'podSelector': {}, 'ingress': [{'from': [{'ipBlock': {'cidr': 'nonsense'}}]}]}
    try:
        snap = snapshot('app/bad', 'app/deny-web-ingress')
        assert evaluate(snap, 'app/client', 'app/api', 9090, 'TCP').verdict == 'allow'
        assert evaluate(snap, 'app/client', 'app/web', 8080, 'TCP').verdict == 'deny'
        assert any('app/bad' in w and 'ignored' in w for w in snap.warnings)
    finally:
        del P['app/bad']
