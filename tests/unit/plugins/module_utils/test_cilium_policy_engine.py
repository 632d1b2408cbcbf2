# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy subset, as truth tables.

``by`` lists who decides: ``ref`` for default deny, ``ref:rule`` for explicit deny and for allows
(``ref`` = ``ns/name`` for namespaced policies, ``name`` for clusterwide ones).
"""

from __future__ import annotations

from typing import NamedTuple

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils.attribution.attribute import compile_snapshot, evaluate
from ansible_collections.netobs.cilium.plugins.module_utils.attribution.cilium import compile_cilium_policy
from ansible_collections.netobs.cilium.plugins.module_utils.attribution.netpol import EvalOptions, PolicyParseError, normalize_protocol
from ansible_collections.netobs.cilium.plugins.module_utils.attribution.snapshot import PolicySnapshot


def _pod(namespace, name, labels, ip, ports=None, node='node-a'):
    containers = [{'name': 'c', 'ports': [{'name': n, 'containerPort': p, 'protocol': proto} for n, (p, proto) in (ports or {}).items()]}]
    return {'kind': 'Pod', 'metadata': {'namespace': namespace, 'name': name, 'labels': labels},
            'spec': {'nodeName': node, 'containers': containers}, 'status': {'phase': 'Running', 'podIP': ip}}


CLUSTER = [
    {'kind': 'Namespace', 'metadata': {'name': 'app', 'labels': {'kubernetes.io/metadata.name': 'app', 'team': 'app'}}},
    {'kind': 'Namespace', 'metadata': {'name': 'db', 'labels': {'kubernetes.io/metadata.name': 'db', 'team': 'db'}}},
    {'kind': 'Namespace', 'metadata': {'name': 'kube-system', 'labels': {'kubernetes.io/metadata.name': 'kube-system'}}},
    {'kind': 'Node', 'metadata': {'name': 'node-a'}, 'status': {'addresses': [{'type': 'InternalIP', 'address': '192.168.0.1'}]}},
    {'kind': 'Node', 'metadata': {'name': 'node-b'}, 'status': {'addresses': [{'type': 'InternalIP', 'address': '192.168.0.2'}]}},
    _pod('app', 'web', {'role': 'web'}, '10.1.0.10', {'http': (8080, 'TCP')}),
    _pod('app', 'client', {'role': 'client'}, '10.1.0.12'),
    _pod('db', 'client', {'role': 'client'}, '10.1.1.11'),
    _pod('db', 'postgres', {'role': 'db'}, '10.1.1.10', {'pg': (5432, 'TCP')}),
    _pod('kube-system', 'coredns', {'k8s-app': 'kube-dns'}, '10.1.2.2', {'dns': (53, 'UDP')}),
]

WEB = {'matchLabels': {'role': 'web'}}
CLIENT = {'matchLabels': {'role': 'client'}}
CNP, CCNP, NP = 'CiliumNetworkPolicy', 'CiliumClusterwideNetworkPolicy', 'NetworkPolicy'

# key -> (kind, namespace, spec)
POLICIES = {
    # subject selection and namespace scoping
    'app/isolate-all': (CNP, 'app', {'endpointSelector': {}, 'ingress': [{}], 'egress': [{}]}),
    'app/isolate-db-ns-attempt': (CNP, 'app', {'endpointSelector': {'matchLabels': {'io.kubernetes.pod.namespace': 'db'}},
                                               'ingress': [{}]}),
    'isolate-everything': (CCNP, None, {'endpointSelector': {}, 'ingress': [{}]}),
    'isolate-db-ns': (CCNP, None, {'endpointSelector': {'matchLabels': {'k8s:io.kubernetes.pod.namespace': 'db'}}, 'ingress': [{}]}),
    # fromEndpoints namespace handling
    'app/web-from-clients': (CNP, 'app', {'endpointSelector': WEB, 'ingress': [{'fromEndpoints': [CLIENT]}]}),
    'app/web-from-db-clients': (CNP, 'app', {'endpointSelector': WEB, 'ingress': [{'fromEndpoints': [
        {'matchLabels': {'k8s:io.kubernetes.pod.namespace': 'db', 'role': 'client'}}]}]}),
    'web-from-any-client': (CCNP, None, {'endpointSelector': WEB, 'ingress': [{'fromEndpoints': [CLIENT]}]}),
    'web-from-all-pods': (CCNP, None, {'endpointSelector': WEB, 'ingress': [{'fromEndpoints': [{}]}]}),
    'app/web-from-namespace': (CNP, 'app', {'endpointSelector': WEB, 'ingress': [{'fromEndpoints': [{}]}]}),
    'app/web-from-remote-node-label': (CNP, 'app', {'endpointSelector': WEB, 'ingress': [{'fromEndpoints': [
        {'matchLabels': {'reserved:remote-node': ''}}]}]}),
    'app/web-from-team-db': (CNP, 'app', {'endpointSelector': WEB, 'ingress': [{'fromEndpoints': [
        {'matchLabels': {'io.kubernetes.pod.namespace': 'db', 'k8s:io.cilium.k8s.namespace.labels.team': 'db'}}]}]}),
    # entities
    'app/client-to-world': (CNP, 'app', {'endpointSelector': CLIENT, 'egress': [{'toEntities': ['world']}]}),
    'app/client-to-cluster': (CNP, 'app', {'endpointSelector': CLIENT, 'egress': [{'toEntities': ['cluster']}]}),
    'app/client-to-apiserver': (CNP, 'app', {'endpointSelector': CLIENT, 'egress': [{'toEntities': ['kube-apiserver']}]}),
    'app/client-to-all': (CNP, 'app', {'endpointSelector': CLIENT, 'egress': [{'toEntities': ['all']}]}),
    'app/client-to-world-ipv4': (CNP, 'app', {'endpointSelector': CLIENT, 'egress': [{'toEntities': ['world-ipv4']}]}),
    'app/web-from-host': (CNP, 'app', {'endpointSelector': WEB, 'ingress': [{'fromEntities': ['host']}]}),
    'app/web-from-remote-node': (CNP, 'app', {'endpointSelector': WEB, 'ingress': [{'fromEntities': ['remote-node']}]}),
    'app/client-to-no-entities': (CNP, 'app', {'endpointSelector': CLIENT, 'egress': [{'toEntities': []}]}),
    # CIDR
    'app/client-to-dns-ip': (CNP, 'app', {'endpointSelector': CLIENT, 'egress': [{'toCIDR': ['8.8.8.8/32']}]}),
    'app/client-to-internet-except': (CNP, 'app', {'endpointSelector': CLIENT, 'egress': [{'toCIDRSet': [
        {'cidr': '0.0.0.0/0', 'except': ['8.8.0.0/16']}]}]}),
    'app/client-to-podcidr': (CNP, 'app', {'endpointSelector': CLIENT, 'egress': [{'toCIDR': ['10.1.0.0/16']}]}),
    'app/web-from-partner': (CNP, 'app', {'endpointSelector': WEB, 'ingress': [{'fromCIDRSet': [
        {'cidr': '203.0.113.0/24', 'except': ['203.0.113.128/25']}]}]}),
    # ports
    'app/client-dns': (CNP, 'app', {'endpointSelector': CLIENT, 'egress': [{'toEndpoints': [
        {'matchLabels': {'k8s:io.kubernetes.pod.namespace': 'kube-system', 'k8s-app': 'kube-dns'}}],
        'toPorts': [{'ports': [{'port': '53', 'protocol': 'UDP'}]}]}]}),
    'app/client-port-80-any': (CNP, 'app', {'endpointSelector': CLIENT, 'egress': [{'toPorts': [{'ports': [{'port': '80'}]}]}]}),
    'app/client-range': (CNP, 'app', {'endpointSelector': CLIENT, 'egress': [{'toPorts': [{'ports': [
        {'port': '8000', 'endPort': 8100, 'protocol': 'TCP'}]}]}]}),
    'app/client-to-named-http': (CNP, 'app', {'endpointSelector': CLIENT, 'egress': [{'toEndpoints': [WEB], 'toPorts': [
        {'ports': [{'port': 'http', 'protocol': 'TCP'}]}]}]}),
    'app/client-tcp-any-port': (CNP, 'app', {'endpointSelector': CLIENT, 'egress': [{'toPorts': [{'ports': [
        {'port': '0', 'protocol': 'TCP'}]}]}]}),
    'app/client-ping': (CNP, 'app', {'endpointSelector': CLIENT, 'egress': [{'icmps': [{'fields': [{'type': 'EchoRequest'}]}]}]}),
    'app/client-l7-http': (CNP, 'app', {'endpointSelector': CLIENT, 'egress': [{'toEndpoints': [WEB], 'toPorts': [
        {'ports': [{'port': '8080', 'protocol': 'TCP'}], 'rules': {'http': [{'method': 'GET'}]}}]}]}),
    # deny rules
    'app/client-all-but-world': (CNP, 'app', {'endpointSelector': CLIENT, 'egress': [{'toEntities': ['all']}],
                                              'egressDeny': [{'toEntities': ['world']}]}),
    'deny-world-egress': (CCNP, None, {'endpointSelector': {}, 'enableDefaultDeny': {'egress': False},
                                       'egressDeny': [{'toEntities': ['world']}]}),
    'app/client-deny-port-80': (CNP, 'app', {'endpointSelector': CLIENT, 'enableDefaultDeny': {'egress': False},
                                             'egressDeny': [{'toPorts': [{'ports': [{'port': '80', 'protocol': 'TCP'}]}]}]}),
    'app/web-deny-partner-only': (CNP, 'app', {'endpointSelector': WEB, 'ingressDeny': [{'fromCIDR': ['203.0.113.0/24']}]}),
    'app/web-deny-partner-no-default': (CNP, 'app', {'endpointSelector': WEB, 'enableDefaultDeny': {'ingress': False},
                                                     'ingressDeny': [{'fromCIDR': ['203.0.113.0/24']}]}),
    # enableDefaultDeny and empty rules
    'app/client-dns-no-default-deny': (CNP, 'app', {'endpointSelector': CLIENT, 'enableDefaultDeny': {'egress': False},
                                                    'egress': [{'toEntities': ['world'], 'toPorts': [{'ports': [{'port': '53'}]}]}]}),
    'app/client-egress-empty-list': (CNP, 'app', {'endpointSelector': CLIENT, 'ingress': [{}], 'egress': []}),
    'app/client-default-deny-no-rules': (CNP, 'app', {'endpointSelector': CLIENT, 'enableDefaultDeny': {'egress': True}}),
    'app/np-client-egress-dns': (NP, 'app', {'podSelector': CLIENT, 'policyTypes': ['Egress'], 'egress': [
        {'ports': [{'protocol': 'UDP', 'port': 53}]}]}),
    # specs, nodeSelector, things we cannot evaluate
    'app/multi-spec': (CNP, 'app', {'specs': [
        {'endpointSelector': WEB, 'ingress': [{'fromEndpoints': [{'matchLabels': {'role': 'db'}}]}]},
        {'endpointSelector': CLIENT, 'egress': [{'toEndpoints': [WEB]}]}]}),
    'host-firewall': (CCNP, None, {'nodeSelector': {}, 'ingress': [{}], 'egress': [{}]}),
    'app/client-fqdn': (CNP, 'app', {'endpointSelector': CLIENT, 'egress': [{'toFQDNs': [{'matchName': 'example.com'}]}]}),
    'app/client-deny-fqdn': (CNP, 'app', {'endpointSelector': CLIENT, 'enableDefaultDeny': {'egress': False},
                                          'egressDeny': [{'toFQDNs': [{'matchName': 'example.com'}]}]}),
    'app/client-services': (CNP, 'app', {'endpointSelector': CLIENT, 'egress': [{'toServices': [
        {'k8sService': {'serviceName': 'web', 'namespace': 'app'}}]}]}),
}


def _obj(key: str) -> dict:
    kind, namespace, spec = POLICIES[key]
    name = key.split('/')[-1]
    meta = {'name': name, 'uid': f'uid-{name}'}
    if namespace:
        meta['namespace'] = namespace
    obj = {'kind': kind, 'metadata': meta}
    if 'specs' in spec:
        obj['specs'] = spec['specs']
    else:
        obj['spec'] = spec
    return obj


def snapshot(*keys: str) -> PolicySnapshot:
    return PolicySnapshot.from_objects(CLUSTER + [_obj(k) for k in keys])


class Case(NamedTuple):
    id: str
    policies: tuple
    src: str
    dst: str
    l4: str
    verdict: str
    by: tuple


CASES = [
    # --- endpointSelector + namespace scoping
    Case('cnp-empty-selector-selects-own-namespace', ('app/isolate-all',), 'db/client', 'app/web', 'TCP/8080', 'deny', ('app/isolate-all',)),
    Case('cnp-does-not-select-other-namespace', ('app/isolate-all',), 'db/client', 'db/postgres', 'TCP/5432', 'allow', ()),
    Case('cnp-namespace-match-in-selector-is-overridden', ('app/isolate-db-ns-attempt',), 'app/client', 'db/postgres', 'TCP/5432', 'allow', ()),
    Case('cnp-namespace-match-still-selects-own-ns', ('app/isolate-db-ns-attempt',), 'app/client', 'app/web', 'TCP/8080', 'deny',
         ('app/isolate-db-ns-attempt',)),
    Case('ccnp-empty-selector-selects-all-namespaces', ('isolate-everything',), 'app/client', 'db/postgres', 'TCP/5432', 'deny',
         ('isolate-everything',)),
    Case('ccnp-namespace-selector', ('isolate-db-ns',), 'db/client', 'app/web', 'TCP/8080', 'allow', ()),
    Case('ccnp-namespace-selector-match', ('isolate-db-ns',), 'app/client', 'db/postgres', 'TCP/5432', 'deny', ('isolate-db-ns',)),
    # --- fromEndpoints without/with namespace labels
    Case('cnp-peer-defaults-to-policy-namespace', ('app/web-from-clients',), 'app/client', 'app/web', 'TCP/8080', 'allow',
         ('app/web-from-clients:ingress[0]',)),
    Case('cnp-peer-not-other-namespace', ('app/web-from-clients',), 'db/client', 'app/web', 'TCP/8080', 'deny', ('app/web-from-clients',)),
    Case('cnp-peer-explicit-namespace', ('app/web-from-db-clients',), 'db/client', 'app/web', 'TCP/8080', 'allow',
         ('app/web-from-db-clients:ingress[0]',)),
    Case('cnp-peer-explicit-namespace-excludes-own', ('app/web-from-db-clients',), 'app/client', 'app/web', 'TCP/8080', 'deny',
         ('app/web-from-db-clients',)),
    Case('ccnp-peer-any-namespace', ('web-from-any-client',), 'db/client', 'app/web', 'TCP/8080', 'allow', ('web-from-any-client:ingress[0]',)),
    Case('ccnp-peer-not-world', ('web-from-any-client',), '203.0.113.9', 'app/web', 'TCP/8080', 'deny', ('web-from-any-client',)),
    Case('ccnp-empty-peer-selector-all-pods', ('web-from-all-pods',), 'db/client', 'app/web', 'TCP/8080', 'allow',
         ('web-from-all-pods:ingress[0]',)),
    Case('ccnp-empty-peer-selector-not-world', ('web-from-all-pods',), '203.0.113.9', 'app/web', 'TCP/8080', 'deny', ('web-from-all-pods',)),
    Case('ccnp-empty-peer-selector-not-remote-node', ('web-from-all-pods',), '192.168.0.2', 'app/web', 'TCP/8080', 'deny', ('web-from-all-pods',)),
    Case('cnp-empty-peer-selector-is-namespace', ('app/web-from-namespace',), 'app/client', 'app/web', 'UDP/1', 'allow',
         ('app/web-from-namespace:ingress[0]',)),
    Case('cnp-empty-peer-selector-not-other-ns', ('app/web-from-namespace',), 'db/client', 'app/web', 'UDP/1', 'deny', ('app/web-from-namespace',)),
    Case('cnp-empty-peer-selector-not-world', ('app/web-from-namespace',), '8.8.8.8', 'app/web', 'UDP/1', 'deny', ('app/web-from-namespace',)),
    Case('reserved-label-selector-not-namespaced', ('app/web-from-remote-node-label',), '192.168.0.2', 'app/web', 'TCP/8080', 'allow',
         ('app/web-from-remote-node-label:ingress[0]',)),
    Case('namespace-label-selector', ('app/web-from-team-db',), 'db/postgres', 'app/web', 'TCP/8080', 'allow', ('app/web-from-team-db:ingress[0]',)),
    # --- entities
    Case('entity-world', ('app/client-to-world',), 'app/client', '8.8.8.8', 'TCP/443', 'allow', ('app/client-to-world:egress[0]',)),
    Case('entity-world-not-pods', ('app/client-to-world',), 'app/client', 'db/postgres', 'TCP/5432', 'deny', ('app/client-to-world',)),
    Case('entity-cluster-pods', ('app/client-to-cluster',), 'app/client', 'db/postgres', 'TCP/5432', 'allow', ('app/client-to-cluster:egress[0]',)),
    Case('entity-cluster-remote-node', ('app/client-to-cluster',), 'app/client', '192.168.0.2', 'TCP/10250', 'allow',
         ('app/client-to-cluster:egress[0]',)),
    Case('entity-cluster-not-world', ('app/client-to-cluster',), 'app/client', '8.8.8.8', 'TCP/443', 'deny', ('app/client-to-cluster',)),
    Case('entity-kube-apiserver', ('app/client-to-apiserver',), 'app/client', 'kube-apiserver', 'TCP/443', 'allow',
         ('app/client-to-apiserver:egress[0]',)),
    Case('entity-kube-apiserver-not-world', ('app/client-to-apiserver',), 'app/client', '8.8.8.8', 'TCP/443', 'deny', ('app/client-to-apiserver',)),
    Case('entity-all', ('app/client-to-all',), 'app/client', '8.8.8.8', 'UDP/123', 'allow', ('app/client-to-all:egress[0]',)),
    Case('entity-world-ipv4', ('app/client-to-world-ipv4',), 'app/client', '8.8.8.8', 'TCP/443', 'allow', ('app/client-to-world-ipv4:egress[0]',)),
    Case('entity-world-ipv4-not-v6', ('app/client-to-world-ipv4',), 'app/client', '2001:db8::1', 'TCP/443', 'deny', ('app/client-to-world-ipv4',)),
    Case('entity-remote-node', ('app/web-from-remote-node',), '192.168.0.2', 'app/web', 'TCP/8080', 'allow', ('app/web-from-remote-node:ingress[0]',)),
    Case('entity-remote-node-not-world', ('app/web-from-remote-node',), '8.8.8.8', 'app/web', 'TCP/8080', 'deny', ('app/web-from-remote-node',)),
    Case('empty-entity-list-selects-nothing', ('app/client-to-no-entities',), 'app/client', '8.8.8.8', 'TCP/443', 'deny',
         ('app/client-to-no-entities',)),
    # --- CIDR
    Case('to-cidr', ('app/client-to-dns-ip',), 'app/client', '8.8.8.8', 'UDP/53', 'allow', ('app/client-to-dns-ip:egress[0]',)),
    Case('to-cidr-outside', ('app/client-to-dns-ip',), 'app/client', '1.1.1.1', 'UDP/53', 'deny', ('app/client-to-dns-ip',)),
    Case('cidrset-except-excluded', ('app/client-to-internet-except',), 'app/client', '8.8.8.8', 'TCP/443', 'deny', ('app/client-to-internet-except',)),
    Case('cidrset-except-kept', ('app/client-to-internet-except',), 'app/client', '1.1.1.1', 'TCP/443', 'allow',
         ('app/client-to-internet-except:egress[0]',)),
    Case('cidr-never-matches-pods', ('app/client-to-podcidr',), 'app/client', 'db/postgres', 'TCP/5432', 'deny', ('app/client-to-podcidr',)),
    Case('from-cidrset', ('app/web-from-partner',), '203.0.113.7', 'app/web', 'TCP/8080', 'allow', ('app/web-from-partner:ingress[0]',)),
    Case('from-cidrset-except', ('app/web-from-partner',), '203.0.113.200', 'app/web', 'TCP/8080', 'deny', ('app/web-from-partner',)),
    # --- ports
    Case('toports-udp', ('app/client-dns',), 'app/client', 'kube-system/coredns', 'UDP/53', 'allow', ('app/client-dns:egress[0]',)),
    Case('toports-udp-not-tcp', ('app/client-dns',), 'app/client', 'kube-system/coredns', 'TCP/53', 'deny', ('app/client-dns',)),
    Case('toports-any-protocol-tcp', ('app/client-port-80-any',), 'app/client', '8.8.8.8', 'TCP/80', 'allow', ('app/client-port-80-any:egress[0]',)),
    Case('toports-any-protocol-udp', ('app/client-port-80-any',), 'app/client', '8.8.8.8', 'UDP/80', 'allow', ('app/client-port-80-any:egress[0]',)),
    Case('toports-any-not-icmp', ('app/client-port-80-any',), 'app/client', '8.8.8.8', 'ICMPv4', 'deny', ('app/client-port-80-any',)),
    Case('toports-endport', ('app/client-range',), 'app/client', 'app/web', 'TCP/8100', 'allow', ('app/client-range:egress[0]',)),
    Case('toports-endport-above', ('app/client-range',), 'app/client', 'app/web', 'TCP/8101', 'deny', ('app/client-range',)),
    Case('toports-named', ('app/client-to-named-http',), 'app/client', 'app/web', 'TCP/8080', 'allow', ('app/client-to-named-http:egress[0]',)),
    Case('toports-port-zero-all-ports', ('app/client-tcp-any-port',), 'app/client', '8.8.8.8', 'TCP/1', 'allow', ('app/client-tcp-any-port:egress[0]',)),
    Case('toports-port-zero-still-tcp-only', ('app/client-tcp-any-port',), 'app/client', '8.8.8.8', 'UDP/1', 'deny', ('app/client-tcp-any-port',)),
    Case('icmps-echo', ('app/client-ping',), 'app/client', '8.8.8.8', 'ICMPv4', 'allow', ('app/client-ping:egress[0]',)),
    Case('icmps-not-v6', ('app/client-ping',), 'app/client', '2001:db8::1', 'ICMPv6', 'deny', ('app/client-ping',)),
    Case('icmps-not-tcp', ('app/client-ping',), 'app/client', '8.8.8.8', 'TCP/80', 'deny', ('app/client-ping',)),
    Case('l7-rules-allow-at-l4', ('app/client-l7-http',), 'app/client', 'app/web', 'TCP/8080', 'allow', ('app/client-l7-http:egress[0]',)),
    # --- deny precedence
    Case('deny-beats-allow-same-policy', ('app/client-all-but-world',), 'app/client', '8.8.8.8', 'TCP/443', 'deny',
         ('app/client-all-but-world:egressDeny[0]',)),
    Case('deny-rule-not-matching', ('app/client-all-but-world',), 'app/client', 'db/postgres', 'TCP/5432', 'allow',
         ('app/client-all-but-world:egress[0]',)),
    Case('clusterwide-deny-beats-namespaced-allow', ('deny-world-egress', 'app/client-to-world'), 'app/client', '8.8.8.8', 'TCP/443', 'deny',
         ('deny-world-egress:egressDeny[0]',)),
    Case('deny-on-port-any-peer', ('app/client-deny-port-80',), 'app/client', 'db/postgres', 'TCP/80', 'deny', ('app/client-deny-port-80:egressDeny[0]',)),
    Case('deny-on-port-other-port', ('app/client-deny-port-80',), 'app/client', 'db/postgres', 'TCP/443', 'allow', ()),
    Case('deny-only-policy-enables-default-deny', ('app/web-deny-partner-only',), 'app/client', 'app/web', 'TCP/8080', 'deny',
         ('app/web-deny-partner-only',)),
    Case('deny-only-policy-explicit', ('app/web-deny-partner-only',), '203.0.113.7', 'app/web', 'TCP/8080', 'deny',
         ('app/web-deny-partner-only:ingressDeny[0]',)),
    Case('deny-without-default-deny-others-pass', ('app/web-deny-partner-no-default',), 'app/client', 'app/web', 'TCP/8080', 'allow', ()),
    Case('deny-without-default-deny-still-denies', ('app/web-deny-partner-no-default',), '203.0.113.7', 'app/web', 'TCP/8080', 'deny',
         ('app/web-deny-partner-no-default:ingressDeny[0]',)),
    # --- enableDefaultDeny and empty rules
    Case('default-deny-disabled-does-not-isolate', ('app/client-dns-no-default-deny',), 'app/client', 'db/postgres', 'TCP/5432', 'allow', ()),
    Case('default-deny-disabled-allows-still-count', ('app/client-dns-no-default-deny', 'app/np-client-egress-dns'), 'app/client', '8.8.8.8',
         'TCP/53', 'allow', ('app/client-dns-no-default-deny:egress[0]',)),
    Case('other-policy-isolates-not-the-non-default-one', ('app/client-dns-no-default-deny', 'app/np-client-egress-dns'), 'app/client',
         'db/postgres', 'TCP/5432', 'deny', ('app/np-client-egress-dns',)),
    Case('empty-rule-denies-everything', ('app/isolate-all',), 'app/client', 'app/web', 'TCP/8080', 'deny', ('app/isolate-all',)),
    Case('empty-rule-list-not-isolating', ('app/client-egress-empty-list',), 'app/client', '8.8.8.8', 'TCP/443', 'allow', ()),
    Case('empty-rule-list-other-direction-isolated', ('app/client-egress-empty-list',), 'app/web', 'app/client', 'TCP/80', 'deny',
         ('app/client-egress-empty-list',)),
    Case('enable-default-deny-without-rules-does-nothing', ('app/client-default-deny-no-rules',), 'app/client', '8.8.8.8', 'TCP/443', 'allow', ()),
    # --- specs, host policies, union with NetworkPolicy
    Case('specs-first-set-isolates-ingress', ('app/multi-spec',), 'app/client', 'app/web', 'TCP/8080', 'deny', ('app/multi-spec',)),
    Case('specs-second-set-isolates-egress', ('app/multi-spec',), 'app/client', 'db/postgres', 'TCP/5432', 'deny', ('app/multi-spec',)),
    Case('specs-peer-scoped-to-policy-namespace', ('app/multi-spec',), 'db/postgres', 'app/web', 'TCP/8080', 'deny', ('app/multi-spec',)),
    Case('node-selector-never-selects-pods', ('host-firewall',), 'app/client', 'app/web', 'TCP/8080', 'allow', ()),
]


@pytest.mark.parametrize('case', CASES, ids=[c.id for c in CASES])
def test_cilium_truth_table(case: Case):
    protocol, _sep, port = case.l4.partition('/')
    decision = evaluate(snapshot(*case.policies), case.src, case.dst, int(port) if port else None, normalize_protocol(protocol))
    assert decision.verdict == case.verdict, decision.explanation()
    if case.verdict == 'deny':
        got = set()
        for direction in decision.denied_by:
            for hit in direction.responsible:
                got.add(hit.policy.ref if hit.effect == 'default-deny' else f'{hit.policy.ref}:{hit.rule}')
        assert got == set(case.by), decision.explanation()
    else:
        allowing = {f'{hit.policy.ref}:{hit.rule}' for d in (decision.egress, decision.ingress) for hit in d.allowing}
        assert allowing == set(case.by), decision.explanation()


def test_specs_rule_names_carry_the_spec_index():
    decision = evaluate(snapshot('app/multi-spec'), 'app/client', 'app/web', 8080, 'TCP')
    assert [h.rule for h in decision.egress.allowing] == ['specs[1].egress[0]']
    assert [h.rule for h in decision.ingress.responsible] == ['specs[0].ingress']


def test_explicit_deny_reports_overridden_allows():
    decision = evaluate(snapshot('app/client-all-but-world'), 'app/client', '8.8.8.8', 443, 'TCP')
    assert decision.egress.effect == 'explicit-deny'
    assert [h.to_dict() for h in decision.egress.responsible] == [
        {'kind': CNP, 'namespace': 'app', 'name': 'client-all-but-world', 'uid': 'uid-client-all-but-world',
         'rule': 'egressDeny[0]', 'effect': 'explicit-deny'}]
    assert [h.rule for h in decision.egress.allowing] == ['egress[0]']
    assert 'deny rules take precedence' in decision.explanation()


def test_empty_rule_option_for_newer_cilium():
    snap = snapshot('app/isolate-all')
    assert evaluate(snap, 'app/client', 'app/web', 8080, 'TCP').verdict == 'deny'
    assert evaluate(snap, 'app/client', 'app/web', 8080, 'TCP', options=EvalOptions(empty_rule_allows_all=True)).verdict == 'allow'


def test_host_is_allowed_by_allow_localhost_unless_disabled():
    snap = snapshot('app/web-from-remote-node')
    assert evaluate(snap, '192.168.0.1', 'app/web', 8080, 'TCP').ingress.effect == 'allow-localhost'
    strict = EvalOptions(allow_localhost=False)
    assert evaluate(snap, '192.168.0.1', 'app/web', 8080, 'TCP', options=strict).verdict == 'deny'
    assert evaluate(snapshot('app/web-from-host'), '192.168.0.1', 'app/web', 8080, 'TCP', options=strict).verdict == 'allow'


@pytest.mark.parametrize('policy, peer, verdict', [
    ('app/client-fqdn', '93.184.215.14', 'unknown'),   # might be example.com: cannot tell without DNS
    ('app/client-fqdn', 'db/postgres', 'deny'),        # FQDN selectors never select pods
    ('app/client-services', 'app/web', 'unknown'),     # service backends are not in the snapshot
])
def test_rules_the_snapshot_cannot_evaluate(policy, peer, verdict):
    decision = evaluate(snapshot(policy), 'app/client', peer, 443, 'TCP')
    assert decision.verdict == verdict
    if verdict == 'unknown':
        assert 'cannot evaluate' in decision.explanation()


def test_undecided_names_what_could_deny():
    maybe_allow = evaluate(snapshot('app/client-fqdn'), 'app/client', '93.184.215.14', 443, 'TCP').egress
    assert [(h.policy.name, h.rule, h.effect) for h in maybe_allow.responsible] == [('client-fqdn', 'egress', 'default-deny')]
    assert [h.rule for h in maybe_allow.undecided] == ['egress[0]']
    maybe_deny = evaluate(snapshot('app/client-deny-fqdn'), 'app/client', '93.184.215.14', 443, 'TCP').egress
    assert maybe_deny.verdict == 'unknown'
    assert [(h.policy.name, h.rule, h.effect) for h in maybe_deny.responsible] == [('client-deny-fqdn', 'egressDeny[0]', 'explicit-deny')]


def test_l7_rules_are_noted():
    decision = evaluate(snapshot('app/client-l7-http'), 'app/client', 'app/web', 8080, 'TCP')
    assert any('L7 rules' in note for note in decision.egress.notes)


@pytest.mark.parametrize('spec, message', [
    ({'endpointSelector': {}, 'egress': [{'toEntities': ['internet']}]}, "unknown entity 'internet'"),
    ({'egress': [{}]}, 'endpointSelector'),
    ({'endpointSelector': {}, 'egress': [{'toPorts': [{'ports': [{'port': '80', 'protocol': 'ICMP'}]}]}]}, 'not TCP, UDP, SCTP or ANY'),
    ({'endpointSelector': {}, 'egress': [{'toCIDRSet': [{'cidr': '10.0.0.0/8', 'except': ['bogus']}]}]}, 'is not a CIDR'),
    ({'endpointSelector': {}, 'egress': [{'icmps': [{'fields': [{'type': 'Hello'}]}]}]}, 'unknown IPv4 ICMP type'),
    ({'endpointSelector': {}, 'egress': 'all'}, 'egress must be a list'),
])
def test_invalid_cilium_policies(spec, message):
    record = PolicySnapshot.from_objects([{'kind': CNP, 'metadata': {'namespace': 'app', 'name': 'bad'}, 'spec': spec}]).policies[0]
    with pytest.raises(PolicyParseError, match=message):
        compile_cilium_policy(record)


def test_invalid_policy_is_ignored_and_reported():
    objs = CLUSTER + [{'kind': CNP, 'metadata': {'namespace': 'app', 'name': 'bad'},
                       'spec': {'endpointSelector': {}, 'ingress': [{'fromEntities': ['internet']}]}}]
    snap = PolicySnapshot.from_objects(objs)
    assert evaluate(snap, 'app/client', 'app/web', 8080, 'TCP').verdict == 'allow'
    assert compile_snapshot(snap).invalid and 'CiliumNetworkPolicy app/bad' in snap.warnings[0]


def test_policy_without_rules_is_flagged():
    snap = snapshot('app/client-default-deny-no-rules')
    compile_snapshot(snap)
    assert any('no ingress/egress rules' in w for w in snap.warnings)
