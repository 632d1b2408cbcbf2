# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy subset that decides L3/L4 drops.

Implemented (cilium.io/v2, behaviour of Cilium 1.16-1.19; details and sources in docs/attribution.md):
* ``endpointSelector`` with Cilium label sources (``k8s:app``, ``app`` = any source, ``reserved:...``).
  A CiliumNetworkPolicy is namespaced: it selects endpoints of its own namespace only (Cilium adds
  ``k8s:io.kubernetes.pod.namespace=<ns>`` to the selector and drops a conflicting namespace match).
  A clusterwide policy selects in every namespace. ``nodeSelector`` (host policies) selects nodes,
  never pods: such rule sets are skipped.
* ``fromEndpoints``/``toEndpoints``: a selector without a namespace key matches only the policy's
  namespace (CiliumNetworkPolicy) or any pod namespace (clusterwide: ``namespace Exists``); selectors
  on ``reserved:`` labels are left alone. ``{}`` therefore means "all pods of this namespace".
* ``fromEntities``/``toEntities``: ``world`` (+``world-ipv4``/``world-ipv6``), ``cluster`` (every pod
  and every in-cluster reserved identity), ``host``, ``remote-node``, ``kube-apiserver``, ``health``,
  ``init``, ``ingress``, ``unmanaged``, ``all``.
* ``fromCIDR``/``fromCIDRSet``/``toCIDR``/``toCIDRSet`` with ``except``: like ``ipBlock`` they match
  peers outside the cluster only (``EvalOptions`` can widen that).
* ``toPorts`` (``ports: [{port, protocol, endPort}]``; protocol defaults to ``ANY`` = TCP+UDP+SCTP;
  port ``0``/absent = all ports; port names resolve on the destination pod) and ``icmps``.
  L7 ``rules`` do not restrict L4: the traffic reaches the proxy (it is not a policy_denied drop).
* ``ingressDeny``/``egressDeny``: a matching deny rule wins over every allow (drop reason POLICY_DENY).
* default deny per direction: a rule set with at least one rule for that direction (allow or deny)
  puts the endpoint in default deny for it, unless ``enableDefaultDeny.<direction>: false``.
  ``enableDefaultDeny: true`` without rules for the direction does nothing (cilium/cilium#35558).
* empty rules: ``ingress: []`` is no rule at all (no default deny from it); ``ingress: [{}]`` selects
  the endpoint, enables default deny and allows nothing (a rule with neither peers nor ports allows
  nothing in Cilium's resolver up to 1.18). A peer field given as an empty list (``toEntities: []``)
  selects nothing. A rule with ports but no peer field matches every peer.
* Not evaluated (the result is "undecided" when they could matter): ``toFQDNs``, ``toServices``,
  ``toGroups``/``fromGroups``, ``toNodes``/``fromNodes``, ``cidrGroupRef``; ``fromRequires``/``toRequires``
  are ignored with a note (deprecated).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from ansible_collections.netobs.cilium.plugins.module_utils._common.enums import CLUSTER_ENTITIES, ENTITIES
from ansible_collections.netobs.cilium.plugins.module_utils.attribution.selectors import (
    NAMESPACE_LABEL,
    SOURCE_ANY,
    SOURCE_K8S,
    SOURCE_RESERVED,
    LabelSelector,
    Requirement,
    SelectorError,
    split_source,
)
from ansible_collections.netobs.cilium.plugins.module_utils.attribution.netpol import (
    EFFECT_ALLOW,
    EFFECT_EXPLICIT_DENY,
    EGRESS,
    INGRESS,
    PORT_PROTOCOLS,
    CidrBlock,
    EvalOptions,
    PolicyEvaluation,
    PolicyParseError,
    RuleHit,
    Traffic,
    all_of,
    any_of,
    cidr_applies_to,
    named_port_matches,
    normalize_protocol,
    parse_end_port,
    parse_port_value,
    port_in_range,
)
from ansible_collections.netobs.cilium.plugins.module_utils.attribution.snapshot import (
    KIND_CCNP,
    NODE_ENTITIES,
    WORLD_ENTITIES,
    Endpoint,
    PolicyRecord,
)

# Reserved identities inside the cluster (the "cluster" entity also covers every pod).
CLUSTER_RESERVED = CLUSTER_ENTITIES

ICMP_TYPES = {
    'IPv4': {'EchoReply': 0, 'DestinationUnreachable': 3, 'Redirect': 5, 'Echo': 8, 'EchoRequest': 8,
             'RouterAdvertisement': 9, 'RouterSelection': 10, 'TimeExceeded': 11, 'ParameterProblem': 12,
             'Timestamp': 13, 'TimestampReply': 14, 'Photuris': 40, 'ExtendedEchoRequest': 42, 'ExtendedEchoReply': 43},
    'IPv6': {'DestinationUnreachable': 1, 'PacketTooBig': 2, 'TimeExceeded': 3, 'ParameterProblem': 4,
             'EchoRequest': 128, 'EchoReply': 129, 'MulticastListenerQuery': 130, 'MulticastListenerReport': 131,
             'MulticastListenerDone': 132, 'RouterSolicitation': 133, 'RouterAdvertisement': 134,
             'NeighborSolicitation': 135, 'NeighborAdvertisement': 136, 'RedirectMessage': 137,
             'ExtendedEchoRequest': 160, 'ExtendedEchoReply': 161},
}

# peer fields per (direction, deny); value: how the field is evaluated
_PEER_FIELDS = {
    INGRESS: ('fromEndpoints', 'fromEntities', 'fromCIDR', 'fromCIDRSet', 'fromNodes', 'fromGroups', 'fromRequires'),
    EGRESS: ('toEndpoints', 'toEntities', 'toCIDR', 'toCIDRSet', 'toNodes', 'toGroups', 'toServices', 'toFQDNs', 'toRequires'),
}
_NAMESPACED_KEYS = (SOURCE_ANY, SOURCE_K8S)


@dataclass(frozen=True, slots=True)
class CPeers:
    endpoints: tuple[LabelSelector, ...] | None = None
    entities: tuple[str, ...] | None = None
    cidrs: tuple[CidrBlock, ...] | None = None
    undecidable: tuple[str, ...] = ()     # peer fields we cannot evaluate (toFQDNs ...)
    empty_field: str | None = None        # a peer field given as an empty list: selects nothing
    ignored: tuple[str, ...] = ()          # fromRequires/toRequires

    @property
    def has_l3(self) -> bool:
        return (self.endpoints is not None or self.entities is not None or self.cidrs is not None
                or bool(self.undecidable) or self.empty_field is not None)


@dataclass(frozen=True, slots=True)
class CPort:
    protocol: str            # TCP, UDP, SCTP or ANY
    port: int | str | None   # None/0 = every port; str = a port name
    end_port: int | None = None


@dataclass(frozen=True, slots=True)
class CIcmp:
    family: str              # IPv4 or IPv6
    type: int | None


@dataclass(frozen=True, slots=True)
class CRule:
    name: str
    peers: CPeers
    ports: tuple[CPort, ...] | None = None   # None: no toPorts
    icmps: tuple[CIcmp, ...] | None = None   # None: no icmps
    l7: bool = False
    auth: bool = False


@dataclass(frozen=True, slots=True)
class CRuleSet:
    """One ``spec`` (or ``specs[i]``) of a Cilium policy."""

    prefix: str
    subject: LabelSelector
    namespace: str | None
    node_selector: bool
    default_deny_ingress: bool
    default_deny_egress: bool
    ingress: tuple[CRule, ...]
    ingress_deny: tuple[CRule, ...]
    egress: tuple[CRule, ...]
    egress_deny: tuple[CRule, ...]

    def allows(self, direction: str) -> tuple[CRule, ...]:
        return self.ingress if direction == INGRESS else self.egress

    def denies(self, direction: str) -> tuple[CRule, ...]:
        return self.ingress_deny if direction == INGRESS else self.egress_deny

    def default_deny(self, direction: str) -> bool:
        return self.default_deny_ingress if direction == INGRESS else self.default_deny_egress

    def selects(self, subject: Endpoint) -> bool:
        if self.node_selector or subject.kind != 'pod':
            return False
        if self.namespace is not None and subject.namespace != self.namespace:
            return False
        return self.subject.matches(subject.cilium_labels)


@dataclass(frozen=True, slots=True)
class CompiledCiliumPolicy:
    record: PolicyRecord
    rule_sets: tuple[CRuleSet, ...]
    warnings: tuple[str, ...] = ()


# -- compiling -----------------------------------------------------------------------------------
def compile_cilium_policy(record: PolicyRecord) -> CompiledCiliumPolicy:
    """Parse a CiliumNetworkPolicy/CiliumClusterwideNetworkPolicy; ``PolicyParseError`` if invalid."""
    namespace = None if record.kind == KIND_CCNP else record.namespace
    warnings: list[str] = []
    sets = []
    for prefix, spec in record.rule_sets():
        where = f'{record.kind} {record.ref}: {prefix or "spec."}'
        if not isinstance(spec, Mapping):
            raise PolicyParseError(f'{where[:-1]} must be a mapping')
        rule_set = _compile_rule_set(prefix, spec, namespace, where)
        if not (rule_set.ingress or rule_set.ingress_deny or rule_set.egress or rule_set.egress_deny):
            warnings.append(f'{where[:-1]} has no ingress/egress rules (Cilium 1.17+ rejects it; it selects nothing here)')
        sets.append(rule_set)
    return CompiledCiliumPolicy(record, tuple(sets), tuple(warnings))


def _compile_rule_set(prefix: str, spec: Mapping, namespace: str | None, where: str) -> CRuleSet:
    node_selector = spec.get('nodeSelector') is not None
    raw_subject = spec.get('nodeSelector') if node_selector else spec.get('endpointSelector')
    if raw_subject is None:
        raise PolicyParseError(f'{where}endpointSelector (or nodeSelector) is required')
    try:
        subject = LabelSelector.parse(raw_subject, f'{where}endpointSelector')
    except SelectorError as exc:
        raise PolicyParseError(str(exc)) from exc
    if namespace is not None and not node_selector:
        # Cilium overwrites a namespace match with the policy's own namespace (and logs a warning).
        subject = subject.without(lambda r: _is_namespace_key(r.key) and r.operator == 'In')
    sections = {}
    for key, direction, deny in (('ingress', INGRESS, False), ('ingressDeny', INGRESS, True),
                                 ('egress', EGRESS, False), ('egressDeny', EGRESS, True)):
        rules = spec.get(key)
        if rules is None:
            rules = []
        if not isinstance(rules, list):
            raise PolicyParseError(f'{where}{key} must be a list')
        sections[key] = tuple(_compile_rule(rule or {}, f'{prefix}{key}[{i}]', direction, deny, namespace,
                                            f'{where}{key}[{i}]') for i, rule in enumerate(rules))
    enable = spec.get('enableDefaultDeny') or {}
    if not isinstance(enable, Mapping):
        raise PolicyParseError(f'{where}enableDefaultDeny must be a mapping with ingress/egress booleans')
    has_ingress = bool(sections['ingress'] or sections['ingressDeny'])
    has_egress = bool(sections['egress'] or sections['egressDeny'])
    return CRuleSet(
        prefix=prefix, subject=subject, namespace=namespace, node_selector=node_selector,
        default_deny_ingress=has_ingress and enable.get('ingress') is not False,
        default_deny_egress=has_egress and enable.get('egress') is not False,
        ingress=sections['ingress'], ingress_deny=sections['ingressDeny'],
        egress=sections['egress'], egress_deny=sections['egressDeny'])


def _is_namespace_key(key: str) -> bool:
    source, name = split_source(key)
    return name == NAMESPACE_LABEL and source in _NAMESPACED_KEYS


def _compile_rule(rule, name: str, direction: str, deny: bool, namespace: str | None, where: str) -> CRule:
    if not isinstance(rule, Mapping):
        raise PolicyParseError(f'{where} must be a mapping')
    peers = _compile_peers(rule, direction, namespace, where)
    ports = None
    l7 = False
    to_ports = rule.get('toPorts')
    if to_ports is not None:
        if not isinstance(to_ports, list):
            raise PolicyParseError(f'{where}.toPorts must be a list')
        ports = []
        for i, port_rule in enumerate(to_ports):
            port_rule = port_rule or {}
            if not isinstance(port_rule, Mapping):
                raise PolicyParseError(f'{where}.toPorts[{i}] must be a mapping')
            entries = port_rule.get('ports') or [{}]
            for j, entry in enumerate(entries):
                ports.append(_compile_port(entry, f'{where}.toPorts[{i}].ports[{j}]'))
            if port_rule.get('rules'):
                l7 = True
        ports = tuple(ports) if ports else None
    icmps = None
    if rule.get('icmps') is not None:
        icmps = tuple(_compile_icmps(rule['icmps'], f'{where}.icmps'))
    auth = isinstance(rule.get('authentication'), Mapping) and rule['authentication'].get('mode') not in (None, 'disabled')
    return CRule(name=name, peers=peers, ports=ports, icmps=icmps, l7=l7 and not deny, auth=auth)


def _compile_peers(rule: Mapping, direction: str, namespace: str | None, where: str) -> CPeers:
    endpoints = entities = cidrs = None
    undecidable: list[str] = []
    ignored: list[str] = []
    empty_field = None
    for key in _PEER_FIELDS[direction]:
        value = rule.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            raise PolicyParseError(f'{where}.{key} must be a list')
        if key.endswith('Requires'):
            ignored.append(key)
            continue
        if not value:
            empty_field = empty_field or key
            continue
        if key.endswith('Endpoints'):
            endpoints = tuple(_peer_selector(sel, namespace, f'{where}.{key}[{i}]') for i, sel in enumerate(value))
        elif key.endswith('Entities'):
            entities = tuple(_entity(e, f'{where}.{key}[{i}]') for i, e in enumerate(value))
        elif key in ('fromCIDR', 'toCIDR'):
            cidrs = (cidrs or ()) + tuple(CidrBlock.parse(c, None, f'{where}.{key}[{i}]') for i, c in enumerate(value))
        elif key in ('fromCIDRSet', 'toCIDRSet'):
            for i, entry in enumerate(value):
                if not isinstance(entry, Mapping):
                    raise PolicyParseError(f'{where}.{key}[{i}] must be a mapping')
                if entry.get('cidr'):
                    cidrs = (cidrs or ()) + (CidrBlock.parse(entry['cidr'], entry.get('except'), f'{where}.{key}[{i}]'),)
                else:
                    undecidable.append(f'{key}[{i}] (cidrGroupRef)')
        else:
            undecidable.append(key)
    return CPeers(endpoints, entities, cidrs, tuple(undecidable), empty_field, tuple(ignored))


def _peer_selector(raw, namespace: str | None, where: str) -> LabelSelector:
    try:
        selector = LabelSelector.parse(raw, where)
    except SelectorError as exc:
        raise PolicyParseError(str(exc)) from exc
    keys = selector.keys()
    if any(split_source(key)[0] == SOURCE_RESERVED for key in keys):
        return selector
    if any(_is_namespace_key(key) for key in keys):
        return selector
    ns_key = f'{SOURCE_K8S}:{NAMESPACE_LABEL}'
    if namespace is not None:
        return selector.with_requirements(Requirement(ns_key, 'In', (namespace,)))
    return selector.with_requirements(Requirement(ns_key, 'Exists'))


def _entity(value, where: str) -> str:
    entity = str(value).strip().lower()
    if entity not in ENTITIES:
        raise PolicyParseError(f'{where}: unknown entity {value!r} (one of {", ".join(ENTITIES)})')
    return entity


def _compile_port(entry, where: str) -> CPort:
    entry = entry or {}
    if not isinstance(entry, Mapping):
        raise PolicyParseError(f'{where} must be a mapping')
    protocol = normalize_protocol(entry.get('protocol')) or 'ANY'
    if protocol not in PORT_PROTOCOLS + ('ANY',):
        raise PolicyParseError(f'{where}: protocol {entry.get("protocol")!r} is not TCP, UDP, SCTP or ANY')
    port = parse_port_value(entry.get('port'), where)
    end_port = parse_end_port(entry.get('endPort'), where) if entry.get('endPort') not in (None, 0) else None
    if end_port is not None and isinstance(port, int) and end_port < port:
        raise PolicyParseError(f'{where}: endPort {end_port} is below port {port}')
    return CPort(protocol, port, end_port)


def _compile_icmps(icmps, where: str) -> list[CIcmp]:
    if not isinstance(icmps, list):
        raise PolicyParseError(f'{where} must be a list')
    result = []
    for i, icmp in enumerate(icmps):
        fields = icmp.get('fields') if isinstance(icmp, Mapping) else None
        if not isinstance(fields, list):
            raise PolicyParseError(f'{where}[{i}].fields must be a list')
        for j, item in enumerate(fields):
            item = item or {}
            family = str(item.get('family') or 'IPv4')
            family = {'ipv4': 'IPv4', 'ipv6': 'IPv6'}.get(family.lower(), family)
            if family not in ICMP_TYPES:
                raise PolicyParseError(f'{where}[{i}].fields[{j}]: family {family!r} is not IPv4 or IPv6')
            raw_type = item.get('type')
            if raw_type is None or isinstance(raw_type, int):
                icmp_type = raw_type
            elif str(raw_type).isdigit():
                icmp_type = int(raw_type)
            elif str(raw_type) in ICMP_TYPES[family]:
                icmp_type = ICMP_TYPES[family][str(raw_type)]
            else:
                raise PolicyParseError(f'{where}[{i}].fields[{j}]: unknown {family} ICMP type {raw_type!r}')
            result.append(CIcmp(family, icmp_type))
    return result


# -- matching ------------------------------------------------------------------------------------
def entity_matches(entity: str, remote: Endpoint) -> bool:
    if entity == 'all':
        return True
    if entity == 'none':
        return False
    if remote.kind == 'pod':
        return entity == 'cluster'
    peer = remote.entity
    if entity == 'cluster':
        return peer in CLUSTER_RESERVED
    if entity == 'world':
        return peer in WORLD_ENTITIES
    if entity in ('world-ipv4', 'world-ipv6'):
        if peer == entity:
            return True
        if peer != 'world':
            return False
        try:
            version = ipaddress.ip_address(remote.ip).version if remote.ip else None
        except ValueError:
            version = None
        return version is None or version == (4 if entity == 'world-ipv4' else 6)
    return peer == entity


def _undecidable_match(field_name: str, remote: Endpoint) -> bool | None:
    if field_name.startswith('toServices'):
        return None
    if field_name.endswith('Nodes'):
        return None if remote.entity in NODE_ENTITIES else False
    # toFQDNs, toGroups/fromGroups, cidrGroupRef: IP-based selections of peers outside the cluster
    return None if remote.kind != 'pod' and remote.entity in WORLD_ENTITIES else False


def peers_match(rule: CRule, remote: Endpoint, options: EvalOptions) -> bool | None:
    peers = rule.peers
    if peers.empty_field is not None:
        return False
    if not peers.has_l3:
        if rule.ports is not None or rule.icmps is not None:
            return True   # L4-only rule: every peer
        return bool(options.empty_rule_allows_all)   # the empty rule {}
    results: list[bool | None] = []
    if peers.endpoints is not None:
        results.append(any(sel.matches(remote.cilium_labels) for sel in peers.endpoints))
    if peers.entities is not None:
        results.append(any(entity_matches(entity, remote) for entity in peers.entities))
    if peers.cidrs is not None:
        results.append(cidr_applies_to(remote, options) and any(block.contains(remote.ip) for block in peers.cidrs))
    for field_name in peers.undecidable:
        results.append(_undecidable_match(field_name, remote))
    return any_of(results)


def port_matches(port: CPort, traffic: Traffic) -> bool | None:
    protocol = traffic.protocol
    if protocol is None:
        return None
    if protocol not in PORT_PROTOCOLS:
        return False
    if port.protocol not in ('ANY', protocol):
        return False
    if port.port is None or port.port == 0:
        return True
    if isinstance(port.port, str):
        return named_port_matches(traffic, port.port, protocol)
    return port_in_range(traffic.port, port.port, port.end_port)


def icmp_matches(icmp: CIcmp, traffic: Traffic) -> bool:
    if traffic.protocol != ('ICMPv4' if icmp.family == 'IPv4' else 'ICMPv6'):
        return False
    # Drop records carry no ICMP type: an unknown type matches (documented approximation).
    return icmp.type is None or traffic.icmp_type is None or icmp.type == traffic.icmp_type


def l4_matches(rule: CRule, traffic: Traffic) -> bool | None:
    if rule.ports is None and rule.icmps is None:
        return True   # L3-only rule: every protocol and port
    results: list[bool | None] = [port_matches(port, traffic) for port in rule.ports or ()]
    results.extend(icmp_matches(icmp, traffic) for icmp in rule.icmps or ())
    return any_of(results)


def rule_matches(rule: CRule, traffic: Traffic, direction: str, options: EvalOptions) -> bool | None:
    peer = peers_match(rule, traffic.peer(direction), options)
    if peer is False:
        return False
    return all_of((peer, l4_matches(rule, traffic)))


def evaluate_cilium_policy(policy: CompiledCiliumPolicy, traffic: Traffic, direction: str,
                           options: EvalOptions) -> PolicyEvaluation | None:
    """Evaluate one Cilium policy for one direction; ``None`` when no rule set of it applies."""
    subject = traffic.subject(direction)
    result: PolicyEvaluation | None = None
    for rule_set in policy.rule_sets:
        allows, denies = rule_set.allows(direction), rule_set.denies(direction)
        if not (allows or denies) or not rule_set.selects(subject):
            continue
        if result is None:
            result = PolicyEvaluation(policy.record, direction, default_deny=False)
        if rule_set.default_deny(direction):
            result.default_deny = True
            result.sections.append(rule_set.prefix + direction)
        for rules, effect, sure, maybe in ((allows, EFFECT_ALLOW, result.allows, result.maybe_allows),
                                           (denies, EFFECT_EXPLICIT_DENY, result.denies, result.maybe_denies)):
            for rule in rules:
                verdict = rule_matches(rule, traffic, direction, options)
                if verdict is False:
                    continue
                (sure if verdict else maybe).append(RuleHit(policy.record, rule.name, effect))
                _notes_for(rule, result, verdict)
    return result


def _notes_for(rule: CRule, result: PolicyEvaluation, verdict: bool | None) -> None:
    ref = f'{result.policy.ref} {rule.name}'
    if verdict is None and rule.peers.undecidable:
        result.notes.append(f'{ref} uses {", ".join(rule.peers.undecidable)}, which the snapshot cannot evaluate')
    if rule.peers.ignored:
        result.notes.append(f'{ref}: {", ".join(rule.peers.ignored)} not evaluated')
    if verdict and rule.l7:
        result.notes.append(f'{ref} has L7 rules: the proxy may still deny individual requests')
    if verdict and rule.auth:
        result.notes.append(f'{ref} requires authentication: unauthenticated traffic is dropped as AUTH_REQUIRED')
