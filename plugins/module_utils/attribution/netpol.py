# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes NetworkPolicy semantics (networking.k8s.io/v1), as Cilium enforces them.

Also defines the evaluation types shared with ``cilium_policy_engine``: ``Traffic``, ``EvalOptions``,
``RuleHit``, ``PolicyEvaluation`` and the three-valued match helpers (``True``/``False``/``None`` =
cannot be decided from the snapshot, e.g. a named port on a pod that is no longer there).

Semantics implemented (https://kubernetes.io/docs/concepts/services-networking/network-policies/):
* a policy selects the pods of its own namespace matched by ``podSelector`` (``{}`` = all of them);
* ``policyTypes`` default: ``Ingress`` always, ``Egress`` when ``egress`` has at least one rule
  (the apiserver's defaulting: ``len(spec.Egress) != 0``);
* a pod is isolated for a direction when ANY policy selects it for that direction; then traffic is
  allowed when ANY rule of ANY selecting policy allows it;
* a rule without ``from``/``to`` (or with an empty list) matches every peer; a rule without
  ``ports`` (or empty) matches every port and protocol (ICMP included);
* a peer is ``ipBlock`` (``cidr`` minus ``except``, IPv4/IPv6) or ``podSelector`` and/or
  ``namespaceSelector``: both in ONE peer = AND (pods matching podSelector in namespaces matching
  namespaceSelector); separate peers = OR; podSelector alone = the policy's namespace;
* ports: ``protocol`` TCP/UDP/SCTP (default TCP), ``port`` number or NAME, ``endPort`` range.
  A named port is resolved against the DESTINATION pod's container ports (the selected pod for
  ingress, the peer pod for egress); a name the pod does not define matches nothing;
* ipBlock and pod IPs: Cilium classifies in-cluster peers by identity first and applies CIDR
  matches only to peers outside the cluster (cilium/cilium#9209, #19601, #35212), so by default an
  ``ipBlock`` matches ``world`` peers only; ``EvalOptions.ipblock_matches_pods`` gives the
  IP-literal behaviour (Calico and others), ``cidr_matches_nodes`` Cilium's
  ``policy-cidr-match-mode: nodes``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ansible_collections.netobs.cilium.plugins.module_utils._common.enums import PORT_PROTOCOLS
from ansible_collections.netobs.cilium.plugins.module_utils._common.errors import NetobsError
from ansible_collections.netobs.cilium.plugins.module_utils.attribution.selectors import LabelSelector, SelectorError, identity_labels
from ansible_collections.netobs.cilium.plugins.module_utils.attribution.snapshot import (
    NODE_ENTITIES,
    WORLD_ENTITIES,
    Endpoint,
    PolicyRecord,
)

INGRESS = 'ingress'
EGRESS = 'egress'
DIRECTIONS = (INGRESS, EGRESS)

EFFECT_ALLOW = 'allow'
EFFECT_DEFAULT_DENY = 'default-deny'
EFFECT_EXPLICIT_DENY = 'explicit-deny'

_PROTOCOL_ALIASES = {'ICMP': 'ICMPv4', 'ICMPV4': 'ICMPv4', 'ICMPV6': 'ICMPv6', 'IPV6-ICMP': 'ICMPv6', 'ICMP6': 'ICMPv6'}


class PolicyParseError(NetobsError, ValueError):
    """A policy the engine cannot evaluate (Kubernetes/Cilium would reject it too)."""


def normalize_protocol(protocol) -> str | None:
    """``tcp`` -> ``TCP``, ``icmp`` -> ``ICMPv4``; ``None``/empty -> ``None`` (unknown)."""
    if protocol is None or protocol == '':
        return None
    text = str(protocol).strip().upper()
    return _PROTOCOL_ALIASES.get(text, text)


def l4_text(protocol: str | None, port: int | None) -> str:
    """``TCP/80``, ``UDP/53``, ``ICMPv4``, ``SCTP``; ``TCP`` when the port is unknown."""
    if protocol is None:
        return 'traffic (protocol unknown)'
    if protocol in PORT_PROTOCOLS and port is not None:
        return f'{protocol}/{port}'
    return protocol


# -- three-valued logic ------------------------------------------------------------------------------
def any_of(values: Iterable[bool | None]) -> bool | None:
    """True if any is True; else None if any is None; else False (False for no values)."""
    undecided = False
    for value in values:
        if value is True:
            return True
        if value is None:
            undecided = True
    return None if undecided else False


def _negate(value: bool | None) -> bool | None:
    return None if value is None else not value


def all_of(values: Iterable[bool | None]) -> bool | None:
    """False if any is False; else None if any is None; else True (True for no values)."""
    return _negate(any_of(_negate(value) for value in values))


# -- shared evaluation types -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EvalOptions:
    """Knobs for behaviour that depends on the Cilium configuration (defaults = Cilium defaults)."""

    ipblock_matches_pods: bool = False    # ipBlock/CIDR rules also match pod IPs (not Cilium's behaviour)
    cidr_matches_nodes: bool = False      # Cilium policy-cidr-match-mode: nodes
    allow_localhost: bool = True          # Cilium allow-localhost (default): the local host may always reach its pods
    empty_rule_allows_all: bool = False   # treat a Cilium rule `{}` as allow-all (see docs/attribution.md)


@dataclass(frozen=True, slots=True)
class Traffic:
    """A connection attempt: source -> destination, protocol and destination port."""

    source: Endpoint
    destination: Endpoint
    protocol: str | None
    port: int | None = None
    icmp_type: int | None = None

    def l4(self) -> str:
        return l4_text(self.protocol, self.port)

    def subject(self, direction: str) -> Endpoint:
        return self.source if direction == EGRESS else self.destination

    def peer(self, direction: str) -> Endpoint:
        return self.destination if direction == EGRESS else self.source


@dataclass(frozen=True, slots=True)
class RuleHit:
    """A policy rule (or section, for default deny) that takes part in a verdict."""

    policy: PolicyRecord
    rule: str | None
    effect: str

    def to_dict(self) -> dict:
        return {'kind': self.policy.kind, 'namespace': self.policy.namespace, 'name': self.policy.name,
                'uid': self.policy.uid, 'rule': self.rule, 'effect': self.effect}


@dataclass(slots=True)
class PolicyEvaluation:
    """What one policy says about one direction of one connection (only for policies that select the subject)."""

    policy: PolicyRecord
    direction: str
    default_deny: bool
    sections: list[str] = field(default_factory=list)
    allows: list[RuleHit] = field(default_factory=list)
    denies: list[RuleHit] = field(default_factory=list)
    maybe_allows: list[RuleHit] = field(default_factory=list)
    maybe_denies: list[RuleHit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def isolation_hit(self) -> RuleHit:
        """The RuleHit naming this policy as a default-deny cause (rule = its section(s))."""
        return RuleHit(self.policy, ','.join(self.sections) or None, EFFECT_DEFAULT_DENY)


# -- shared peer/port helpers -------------------------------------------------------------------------
def parse_cidr(text, where: str):
    try:
        return ipaddress.ip_network(str(text).strip(), strict=False)
    except ValueError as exc:
        raise PolicyParseError(f'{where}: {text!r} is not a CIDR') from exc


@dataclass(frozen=True, slots=True)
class CidrBlock:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    excepts: tuple = ()

    @classmethod
    def parse(cls, cidr, excepts, where: str) -> CidrBlock:
        if not cidr:
            raise PolicyParseError(f'{where}: cidr is required')
        if excepts is not None and not isinstance(excepts, list):
            raise PolicyParseError(f'{where}.except: expected a list of CIDRs')
        return cls(parse_cidr(cidr, where), tuple(parse_cidr(e, f'{where}.except[{i}]') for i, e in enumerate(excepts or [])))

    def contains(self, ip: str | None) -> bool:
        if not ip:
            return False
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if address.version != self.network.version or address not in self.network:
            return False
        return not any(address.version == e.version and address in e for e in self.excepts)


def cidr_applies_to(peer: Endpoint, options: EvalOptions) -> bool:
    """Whether IP/CIDR rules can match this peer at all (Cilium: only peers outside the cluster)."""
    if peer.kind == 'pod':
        return options.ipblock_matches_pods
    if peer.entity in WORLD_ENTITIES:
        return True
    if peer.entity in NODE_ENTITIES:
        return options.cidr_matches_nodes
    return False


def named_port(destination: Endpoint, name: str) -> tuple[int, str] | None | bool:
    """``(port, protocol)`` of a named container port of the destination; ``False`` when the
    destination has no such port (or is not a pod); ``None`` when its ports are unknown."""
    if destination.kind != 'pod':
        return False
    if destination.named_ports is None:
        return None
    return destination.named_ports.get(name, False)


def parse_port_value(value, where: str) -> int | str | None:
    """Port as int, a port name, or None for "all ports"."""
    if value is None or value == '':
        return None
    if isinstance(value, bool):
        raise PolicyParseError(f'{where}: {value!r} is not a port')
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if not text.isdigit():
            return text
        number = int(text)
    if not 0 <= number <= 65535:
        raise PolicyParseError(f'{where}: port {number} is out of range')
    return number


def parse_end_port(value, where: str) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise PolicyParseError(f'{where}: endPort {value!r} is not a number') from exc
    if not 0 < number <= 65535:
        raise PolicyParseError(f'{where}: endPort {number} is out of range')
    return number


def port_in_range(port: int | None, start: int, end: int | None) -> bool | None:
    if port is None:
        return None
    if end:
        return start <= port <= end
    return port == start


# -- Kubernetes NetworkPolicy -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NPPeer:
    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: CidrBlock | None = None


@dataclass(frozen=True, slots=True)
class NPPort:
    protocol: str
    port: int | str | None
    end_port: int | None = None


@dataclass(frozen=True, slots=True)
class NPRule:
    name: str
    peers: tuple[NPPeer, ...] | None   # None = every peer
    ports: tuple[NPPort, ...] | None   # None = every port/protocol


@dataclass(frozen=True, slots=True)
class CompiledNetworkPolicy:
    record: PolicyRecord
    pod_selector: LabelSelector
    ingress: bool
    egress: bool
    ingress_rules: tuple[NPRule, ...]
    egress_rules: tuple[NPRule, ...]

    def rules(self, direction: str) -> tuple[NPRule, ...]:
        return self.ingress_rules if direction == INGRESS else self.egress_rules

    def applies(self, direction: str) -> bool:
        return self.ingress if direction == INGRESS else self.egress


def compile_network_policy(record: PolicyRecord) -> CompiledNetworkPolicy:
    """Parse a NetworkPolicy once; raises ``PolicyParseError`` for specs the apiserver would reject."""
    spec = record.spec or {}
    where = f'NetworkPolicy {record.ref}'
    try:
        pod_selector = LabelSelector.parse(spec.get('podSelector'), f'{where}: spec.podSelector')
    except SelectorError as exc:
        raise PolicyParseError(str(exc)) from exc
    ingress_rules = _np_rules(spec.get('ingress'), INGRESS, where)
    egress_rules = _np_rules(spec.get('egress'), EGRESS, where)
    policy_types = spec.get('policyTypes')
    if policy_types:
        if not isinstance(policy_types, list):
            raise PolicyParseError(f'{where}: spec.policyTypes must be a list')
        types = {str(t).capitalize() for t in policy_types}
        unknown = types - {'Ingress', 'Egress'}
        if unknown:
            raise PolicyParseError(f'{where}: spec.policyTypes has unknown value(s) {sorted(unknown)}')
        ingress, egress = 'Ingress' in types, 'Egress' in types
    else:
        ingress, egress = True, bool(egress_rules)
    return CompiledNetworkPolicy(record, pod_selector, ingress, egress, ingress_rules, egress_rules)


def _np_rules(rules, direction: str, where: str) -> tuple[NPRule, ...]:
    if rules is None:
        return ()
    if not isinstance(rules, list):
        raise PolicyParseError(f'{where}: spec.{direction} must be a list')
    peer_key = 'from' if direction == INGRESS else 'to'
    compiled = []
    for index, rule in enumerate(rules):
        name = f'{direction}[{index}]'
        rule = rule or {}
        if not isinstance(rule, Mapping):
            raise PolicyParseError(f'{where}: spec.{name} must be a mapping')
        peers = rule.get(peer_key)
        ports = rule.get('ports')
        compiled.append(NPRule(
            name=name,
            peers=tuple(_np_peer(p, f'{where}: spec.{name}.{peer_key}[{i}]') for i, p in enumerate(peers)) if peers else None,
            ports=tuple(_np_port(p, f'{where}: spec.{name}.ports[{i}]') for i, p in enumerate(ports)) if ports else None,
        ))
    return tuple(compiled)


def _np_peer(peer, where: str) -> NPPeer:
    if not isinstance(peer, Mapping):
        raise PolicyParseError(f'{where}: must be a mapping')
    ip_block = peer.get('ipBlock')
    if ip_block is not None:
        if peer.get('podSelector') is not None or peer.get('namespaceSelector') is not None:
            raise PolicyParseError(f'{where}: ipBlock cannot be combined with podSelector/namespaceSelector')
        if not isinstance(ip_block, Mapping):
            raise PolicyParseError(f'{where}.ipBlock: must be a mapping')
        return NPPeer(ip_block=CidrBlock.parse(ip_block.get('cidr'), ip_block.get('except'), f'{where}.ipBlock'))
    if peer.get('podSelector') is None and peer.get('namespaceSelector') is None:
        raise PolicyParseError(f'{where}: a peer needs podSelector, namespaceSelector or ipBlock')
    try:
        pod_sel = LabelSelector.parse(peer['podSelector'], f'{where}.podSelector') if peer.get('podSelector') is not None else None
        ns_sel = LabelSelector.parse(peer['namespaceSelector'], f'{where}.namespaceSelector') if peer.get('namespaceSelector') is not None else None
    except SelectorError as exc:
        raise PolicyParseError(str(exc)) from exc
    return NPPeer(pod_selector=pod_sel, namespace_selector=ns_sel)


def _np_port(port, where: str) -> NPPort:
    if not isinstance(port, Mapping):
        raise PolicyParseError(f'{where}: must be a mapping')
    protocol = normalize_protocol(port.get('protocol')) or 'TCP'
    if protocol not in PORT_PROTOCOLS:
        raise PolicyParseError(f'{where}: protocol {port.get("protocol")!r} is not TCP, UDP or SCTP')
    value = parse_port_value(port.get('port'), where)
    end_port = parse_end_port(port.get('endPort'), where)
    if end_port is not None and not isinstance(value, int):
        raise PolicyParseError(f'{where}: endPort needs a numeric port')
    if end_port is not None and end_port < value:
        raise PolicyParseError(f'{where}: endPort {end_port} is below port {value}')
    return NPPort(protocol, value, end_port)


def np_selects(policy: CompiledNetworkPolicy, subject: Endpoint) -> bool:
    """A NetworkPolicy selects Cilium-managed pods of its own namespace only."""
    if subject.kind != 'pod' or subject.namespace != policy.record.namespace:
        return False
    return policy.pod_selector.matches(identity_labels(subject.labels))


def np_peer_matches(peer: NPPeer, policy_namespace: str, remote: Endpoint, options: EvalOptions) -> bool:
    if peer.ip_block is not None:
        return cidr_applies_to(remote, options) and peer.ip_block.contains(remote.ip)
    if remote.kind != 'pod':
        return False   # pod/namespace selectors never match world, nodes or other reserved identities
    if peer.namespace_selector is None:
        if remote.namespace != policy_namespace:
            return False
    elif not peer.namespace_selector.matches(remote.namespace_labels):
        return False
    return peer.pod_selector is None or peer.pod_selector.matches(identity_labels(remote.labels))


def np_port_matches(port: NPPort, traffic: Traffic) -> bool | None:
    if traffic.protocol is None:
        return None
    if traffic.protocol != port.protocol:
        return False
    if port.port is None:
        return True
    if isinstance(port.port, str):
        return named_port_matches(traffic, port.port, port.protocol)
    return port_in_range(traffic.port, port.port, port.end_port)


def named_port_matches(traffic: Traffic, name: str, protocol: str) -> bool | None:
    """Does ``traffic`` go to the destination's container port called ``name`` with ``protocol``? None if unknown."""
    resolved = named_port(traffic.destination, name)
    if resolved is None or resolved is False:
        return resolved
    number, named_protocol = resolved
    if named_protocol != protocol:
        return False
    return port_in_range(traffic.port, number, None)


def evaluate_network_policy(policy: CompiledNetworkPolicy, traffic: Traffic, direction: str,
                            options: EvalOptions) -> PolicyEvaluation | None:
    """Evaluate one NetworkPolicy for one direction; ``None`` when it does not select the subject for it."""
    subject = traffic.subject(direction)
    if not policy.applies(direction) or not np_selects(policy, subject):
        return None
    remote = traffic.peer(direction)
    namespace = policy.record.namespace
    result = PolicyEvaluation(policy.record, direction, default_deny=True, sections=[direction])
    for rule in policy.rules(direction):
        peer_ok = True if rule.peers is None else any(np_peer_matches(p, namespace, remote, options) for p in rule.peers)
        port_ok = True if rule.ports is None else any_of(np_port_matches(p, traffic) for p in rule.ports)
        verdict = all_of((peer_ok, port_ok))
        if verdict is True:
            result.allows.append(RuleHit(policy.record, rule.name, EFFECT_ALLOW))
        elif verdict is None:
            result.maybe_allows.append(RuleHit(policy.record, rule.name, EFFECT_ALLOW))
    if result.maybe_allows and not result.allows:
        result.notes.append(_undecided_note(traffic))
    return result


def _undecided_note(traffic: Traffic) -> str:
    if traffic.protocol is None:
        return 'the protocol of the traffic is unknown'
    if traffic.port is None and traffic.protocol in PORT_PROTOCOLS:
        return f'the {traffic.protocol} destination port is unknown'
    return f'the named ports of {traffic.destination.display()} are unknown (pod not in the snapshot)'
