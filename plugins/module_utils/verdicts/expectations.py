# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Expectations ("this traffic must be denied / allowed") and the judge that turns evidence into verdicts.

An expectations file is YAML or JSON (documented in ``docs/expectations.md``, schema in
``docs/schemas/expectations.schema.json`` = ``EXPECTATIONS_SCHEMA`` below)::

    schema_version: 1
    expectations:
      - name: netshot-cannot-reach-nginx
        from: cni-test/netshot            # namespace/workload, namespace/*, entity, CIDR or a mapping
        to: {namespace: cni-test, labels: {app: nginx}}
        port: 80
        protocol: TCP
        expect: deny
        controls: [CIS-5.3.2]
        description: The troubleshooting pod must not reach nginx.

``load_expectations(data)`` validates (structure first with readable messages, then against the JSON
schema when ``jsonschema`` is installed) and returns ``Expectation`` objects. ``judge()`` takes
observations (drops aggregated into violations, allowed flows, probe results) and returns one result
per expectation plus a classification of every violation:

* expected deny observed as a policy drop                 -> ``pass`` / ``control_proven``
* expected deny never observed                            -> ``fail`` / ``control_unproven``
* expected deny observed as allowed traffic (flow, probe) -> ``fail`` / ``unexpected_allow``
* expected allow observed as a drop (or a failed probe)   -> ``fail`` / ``outage_risk``
* expected allow that current policies would deny         -> ``fail`` / ``outage_risk`` (basis ``predicted``)
* expected allow seen allowed / not contradicted          -> ``pass`` / ``allow_observed`` | ``allow_not_contradicted``
* a violation no expectation matches                      -> ``unreviewed`` (counts as unexpected)

Pure Python; ``jsonschema`` and the snapshot are optional.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from ansible_collections.netobs.cilium.plugins.module_utils._common.documents import load_single_document
from ansible_collections.netobs.cilium.plugins.module_utils._common.enums import CLUSTER_ENTITIES, PROTOCOLS, WORLD_ENTITIES
from ansible_collections.netobs.cilium.plugins.module_utils._common.enums import ENTITIES as _ENTITIES
from ansible_collections.netobs.cilium.plugins.module_utils._common.errors import NetobsError
from ansible_collections.netobs.cilium.plugins.module_utils._common.labels import split_pod_labels
from ansible_collections.netobs.cilium.plugins.module_utils.evidence.reasons import POLICY_VERDICT_REASONS
from ansible_collections.netobs.cilium.plugins.module_utils.attribution.selectors import LabelSelector, SelectorError

EXPECTATIONS_SCHEMA_VERSION = 1
EXPECT_VALUES = ('deny', 'allow')
# Drop reasons that prove a policy decision (a deny expectation is only proven by these).
POLICY_DROP_REASONS = POLICY_VERDICT_REASONS
# Observation origin of a drop whose reason is not a policy verdict (report ``other_drops``): shown, never judged.
OTHER_DROP = 'other_drop'
# An expectation peer is any Cilium entity except "none" (it selects nothing, so nothing can be expected of it).
ENTITIES = tuple(entity for entity in _ENTITIES if entity != 'none')
WORLD_NAMES = WORLD_ENTITIES
SELECTOR_KEYS = ('namespace', 'workload', 'pod', 'labels', 'selector', 'entity', 'cidr', 'except')
ENTRY_KEYS = ('name', 'from', 'to', 'port', 'protocol', 'expect', 'controls', 'description')
MAX_LISTED = 10

# Verdicts and categories (kept as constants: the report schema, writers and tests use them).
PASS = 'pass'
FAIL = 'fail'
CONTROL_PROVEN = 'control_proven'
ALLOW_OBSERVED = 'allow_observed'
ALLOW_NOT_CONTRADICTED = 'allow_not_contradicted'
CONTROL_UNPROVEN = 'control_unproven'
OUTAGE_RISK = 'outage_risk'
UNEXPECTED_ALLOW = 'unexpected_allow'
UNREVIEWED = 'unreviewed'
EXPECTED = 'expected'
PASS_CATEGORIES = (CONTROL_PROVEN, ALLOW_OBSERVED, ALLOW_NOT_CONTRADICTED)
FAIL_CATEGORIES = (CONTROL_UNPROVEN, OUTAGE_RISK, UNEXPECTED_ALLOW)
VIOLATION_CLASSES = (EXPECTED, OUTAGE_RISK, UNREVIEWED)
# Findings that count as "unexpected" for fail_on=unexpected (a control that was not seen is not unexpected).
UNEXPECTED_CATEGORIES = frozenset((OUTAGE_RISK, UNEXPECTED_ALLOW, UNREVIEWED))

_NAMESPACE_PATTERN = re.compile(r'^(\*|[a-z0-9*?]([-a-z0-9*?]{0,61}[a-z0-9*?])?)$')
_NAME_PATTERN = re.compile(r'^[A-Za-z0-9*?\[\]][-A-Za-z0-9_.*?\[\]]{0,252}$')
_PORT_RANGE = re.compile(r'^(\d{1,5})\s*-\s*(\d{1,5})$')

_SELECTOR_SCHEMA = {
    'oneOf': [
        {'type': 'string', 'minLength': 1,
         'description': 'namespace/workload (globs allowed), namespace/*, an entity (world, cluster, host, remote-node, '
                        'kube-apiserver, all, ...), an IP address or a CIDR'},
        {'type': 'object', 'additionalProperties': False, 'minProperties': 1,
         'properties': {
             'namespace': {'type': 'string', 'minLength': 1},
             'workload': {'type': 'string', 'minLength': 1},
             'pod': {'type': 'string', 'minLength': 1},
             'labels': {'type': 'object', 'additionalProperties': {'type': ['string', 'number', 'boolean']}},
             'selector': {'type': 'object', 'additionalProperties': False,
                          'properties': {'matchLabels': {'type': 'object'}, 'matchExpressions': {'type': 'array'}}},
             'entity': {'type': 'string', 'enum': list(ENTITIES)},
             'cidr': {'oneOf': [{'type': 'string'}, {'type': 'array', 'items': {'type': 'string'}, 'minItems': 1}]},
             'except': {'type': 'array', 'items': {'type': 'string'}},
         }},
    ],
}

EXPECTATIONS_SCHEMA = {
    '$schema': 'https://json-schema.org/draft/2020-12/schema',
    '$id': 'https://github.com/netobs/cilium/docs/schemas/expectations.schema.json',
    'title': 'netobs.cilium expectations',
    'description': 'Traffic that must be denied or allowed, judged against drop evidence by netobs.cilium.violation_report.',
    'type': 'object',
    'additionalProperties': False,
    'required': ['expectations'],
    'properties': {
        'schema_version': {'const': EXPECTATIONS_SCHEMA_VERSION},
        'expectations': {'type': 'array', 'items': {'$ref': '#/$defs/expectation'}},
    },
    '$defs': {
        'selector': _SELECTOR_SCHEMA,
        'expectation': {
            'type': 'object',
            'additionalProperties': False,
            'required': ['name', 'from', 'to', 'expect'],
            'properties': {
                'name': {'type': 'string', 'minLength': 1, 'maxLength': 200},
                'from': {'$ref': '#/$defs/selector'},
                'to': {'$ref': '#/$defs/selector'},
                'port': {'oneOf': [{'type': 'integer', 'minimum': 1, 'maximum': 65535},
                                   {'type': 'string', 'pattern': r'^\d{1,5}(\s*-\s*\d{1,5})?$'},
                                   {'type': 'null'}]},
                'protocol': {'enum': sorted(set(PROTOCOLS) | {p.lower() for p in PROTOCOLS}) + [None]},
                'expect': {'type': 'string', 'enum': list(EXPECT_VALUES)},
                'controls': {'type': ['array', 'null'], 'items': {'type': 'string', 'minLength': 1}},
                'description': {'type': ['string', 'null']},
            },
        },
    },
}


class ExpectationError(NetobsError, ValueError):
    """The expectations are invalid; the message names the entry, the field and what is accepted."""


# -- peers: one side of an observed connection, in the terms selectors need ------------------------------
@dataclass(frozen=True)
class Peer:
    """One end of an observed connection (drop, allowed flow or probe) as the judge matches it against selectors.

    Not an endpoint of the evidence model (``evidence.model.Endpoint``/``ViolationEndpoint``): a Peer is built from a
    violation side, a flow or a probe result (labels as a mapping, ``entity`` for reserved identities) only to be
    compared with the ``from``/``to`` selectors of expectations; it carries no evidence of its own.
    """

    namespace: str | None = None
    pod: str | None = None
    pods: tuple[str, ...] = ()
    workload: str | None = None
    labels: Mapping[str, str] | None = None
    entity: str | None = None
    ip: str | None = None

    def display(self) -> str:
        if self.namespace and (self.workload or self.pod):
            return f'{self.namespace}/{self.workload or self.pod}'
        if self.entity and self.ip:
            return f'{self.entity} ({self.ip})'
        return self.entity or self.ip or 'unknown'

    def all_pods(self) -> tuple[str, ...]:
        pods = tuple(self.pods)
        if self.pod and self.pod not in pods:
            pods = (self.pod,) + pods
        return pods


def labels_from_strings(strings: Iterable) -> dict[str, str]:
    """Hubble label strings (``k8s:app=nginx``) to plain pod labels (labels Cilium adds itself dropped)."""
    return split_pod_labels(strings)[0]


# -- selectors -----------------------------------------------------------------------------------------
def _is_glob(text: str | None) -> bool:
    return bool(text) and any(ch in text for ch in '*?[')


def _networks(values, where: str) -> tuple:
    result = []
    for value in values:
        try:
            result.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError as exc:
            raise ExpectationError(f'{where}: {value!r} is not an IP address or CIDR ({exc})') from None
    return tuple(result)


@dataclass(frozen=True)
class Selector:
    """``from``/``to`` of an expectation. ``kind``: workload | labels | entity | cidr."""

    kind: str
    text: str
    namespace: str | None = None
    workload: str | None = None
    pod: str | None = None
    labels: Mapping[str, str] | None = None
    label_selector: LabelSelector | None = None
    entity: str | None = None
    networks: tuple = ()
    excepts: tuple = ()

    # -- matching --
    def matches(self, peer: Peer) -> bool | None:
        """True/False; ``None`` when it cannot be decided (a label selector and no labels known)."""
        if self.kind == 'entity':
            return _entity_matches(self.entity, peer)
        if self.kind == 'cidr':
            return _cidr_matches(self.networks, self.excepts, peer)
        if not peer.namespace:
            return False
        if self.namespace and self.namespace != '*' and not fnmatch.fnmatchcase(peer.namespace, self.namespace):
            return False
        if self.workload and self.workload != '*':
            names = [peer.workload] if peer.workload else []
            names.extend(peer.all_pods())
            if not any(fnmatch.fnmatchcase(name, self.workload) for name in names if name):
                return False
        if self.pod and not any(fnmatch.fnmatchcase(name, self.pod) for name in peer.all_pods()):
            return False
        if self.label_selector is not None and not self.label_selector.is_empty:
            if peer.labels is None:
                return None
            return self.label_selector.matches(peer.labels)
        return True

    @property
    def needs_labels(self) -> bool:
        return self.label_selector is not None and not self.label_selector.is_empty

    def endpoint_spec(self):
        """A concrete endpoint for policy evaluation (``attribution.evaluate``), or ``None`` (globs, sets)."""
        if self.kind == 'entity':
            return self.entity if self.entity in WORLD_NAMES or self.entity in CLUSTER_ENTITIES else None
        if self.kind == 'cidr':
            if len(self.networks) != 1:
                return None
            net = self.networks[0]
            if net.num_addresses == 1:
                return str(net.network_address)
            return str(next(net.hosts(), net.network_address))
        if not self.namespace or _is_glob(self.namespace):
            return None
        if self.pod and not _is_glob(self.pod):
            return {'namespace': self.namespace, 'pod': self.pod}
        if self.workload and not _is_glob(self.workload) and not self.needs_labels:
            return f'{self.namespace}/{self.workload}'
        if self.labels is not None and self.label_selector is not None and not self.workload and not self.pod:
            return {'namespace': self.namespace, 'labels': dict(self.labels)}
        return None

    def to_dict(self) -> dict:
        data: dict = {'kind': self.kind, 'text': self.text}
        for name in ('namespace', 'workload', 'pod', 'entity'):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        if self.label_selector is not None and not self.label_selector.is_empty:
            data['labels'] = self.label_selector.describe()
        if self.networks:
            data['cidr'] = [str(net) for net in self.networks]
        if self.excepts:
            data['except'] = [str(net) for net in self.excepts]
        return data


def _entity_matches(entity: str | None, peer: Peer) -> bool:
    if entity == 'all':
        return True
    if entity == 'cluster':
        return bool(peer.namespace) or peer.entity in CLUSTER_ENTITIES
    if entity in WORLD_NAMES:
        is_world = peer.entity in WORLD_NAMES or (not peer.namespace and not peer.entity and bool(peer.ip))
        if not is_world:
            return False
        if entity == 'world':
            return True
        if peer.entity == entity:
            return True
        if peer.ip:
            try:
                version = ipaddress.ip_address(peer.ip).version
            except ValueError:
                return False
            return (entity == 'world-ipv4') == (version == 4)
        return False
    return peer.entity == entity


def _cidr_matches(networks, excepts, peer: Peer) -> bool:
    if not peer.ip:
        return False
    try:
        address = ipaddress.ip_address(peer.ip)
    except ValueError:
        return False
    if not any(address.version == net.version and address in net for net in networks):
        return False
    return not any(address.version == net.version and address in net for net in excepts)


def parse_selector(value, where: str) -> Selector:
    """Parse one ``from``/``to`` value (see the module docstring); raises ``ExpectationError``."""
    if isinstance(value, str):
        return _parse_selector_string(value.strip(), where)
    if isinstance(value, Mapping):
        return _parse_selector_mapping(value, where)
    raise ExpectationError(f'{where}: expected a string (namespace/workload, entity, CIDR) or a mapping, '
                           f'got {type(value).__name__}')


def _parse_selector_string(text: str, where: str) -> Selector:
    if not text:
        raise ExpectationError(f'{where}: empty selector; use namespace/workload, namespace/*, an entity or a CIDR')
    if text in ENTITIES:
        return Selector(kind='entity', text=text, entity=text)
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        network = None
    if network is not None:
        return Selector(kind='cidr', text=text, networks=(network,))
    namespace, sep, workload = text.partition('/')
    if not sep or not namespace or not workload or '/' in workload:
        raise ExpectationError(
            f'{where}: {text!r} is not a selector; use namespace/workload (e.g. cni-test/nginx), namespace/*, '
            f'an entity ({", ".join(ENTITIES)}), an IP/CIDR, or a mapping with namespace/labels')
    _check_namespace(namespace, where)
    _check_name(workload, where, 'workload')
    return Selector(kind='workload', text=text, namespace=namespace, workload=workload)


def _check_namespace(namespace, where: str) -> None:
    if not isinstance(namespace, str) or not _NAMESPACE_PATTERN.match(namespace):
        raise ExpectationError(f'{where}: namespace {namespace!r} is not a DNS-1123 label (globs * and ? allowed)')


def _check_name(name, where: str, what: str) -> None:
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise ExpectationError(f'{where}: {what} {name!r} is not a valid name or glob')


def _parse_selector_mapping(data: Mapping, where: str) -> Selector:
    unknown = sorted(str(key) for key in data if key not in SELECTOR_KEYS)
    if unknown:
        raise ExpectationError(f'{where}: unknown key(s) {", ".join(unknown)}; a selector mapping accepts {", ".join(SELECTOR_KEYS)}')
    if not data:
        raise ExpectationError(f'{where}: empty mapping; give namespace, workload, pod, labels, selector, entity or cidr')
    if 'entity' in data:
        others = sorted(k for k in data if k != 'entity')
        if others:
            raise ExpectationError(f'{where}: entity cannot be combined with {", ".join(others)}')
        entity = data['entity']
        if entity not in ENTITIES:
            raise ExpectationError(f'{where}: entity {entity!r} is not one of {", ".join(ENTITIES)}')
        return Selector(kind='entity', text=str(entity), entity=str(entity))
    if 'cidr' in data:
        others = sorted(k for k in data if k not in ('cidr', 'except'))
        if others:
            raise ExpectationError(f'{where}: cidr cannot be combined with {", ".join(others)}')
        cidrs = data['cidr'] if isinstance(data['cidr'], list) else [data['cidr']]
        if not cidrs:
            raise ExpectationError(f'{where}.cidr: give at least one CIDR')
        excepts = data.get('except') or []
        if not isinstance(excepts, list):
            raise ExpectationError(f'{where}.except: expected a list of CIDRs')
        networks = _networks(cidrs, f'{where}.cidr')
        return Selector(kind='cidr', text=', '.join(str(n) for n in networks) + (' except ' + ', '.join(map(str, excepts)) if excepts else ''),
                        networks=networks, excepts=_networks(excepts, f'{where}.except'))
    if 'except' in data:
        raise ExpectationError(f'{where}: except only goes with cidr')
    namespace = data.get('namespace')
    if namespace is not None:
        _check_namespace(namespace, f'{where}.namespace')
    workload = data.get('workload')
    if workload is not None:
        _check_name(workload, f'{where}.workload', 'workload')
    pod = data.get('pod')
    if pod is not None:
        _check_name(pod, f'{where}.pod', 'pod')
    if 'labels' in data and 'selector' in data:
        raise ExpectationError(f'{where}: give labels or selector, not both')
    labels = None
    label_selector = None
    if 'labels' in data:
        if not isinstance(data['labels'], Mapping):
            raise ExpectationError(f'{where}.labels: expected a mapping of label key to value (like matchLabels)')
        labels = {str(k): _label_text(v) for k, v in data['labels'].items()}
        label_selector = _label_selector({'matchLabels': labels}, f'{where}.labels')
    elif 'selector' in data:
        label_selector = _label_selector(data['selector'], f'{where}.selector')
    if namespace is None and workload is None and pod is None and label_selector is None:
        raise ExpectationError(f'{where}: give at least one of namespace, workload, pod, labels, selector')
    if (workload is not None or pod is not None) and namespace is None:
        raise ExpectationError(f'{where}: workload and pod need a namespace (use namespace: "*" for any)')
    text = namespace or '*'
    if workload is not None:
        text += f'/{workload}'
    if pod is not None:
        text += f' pod={pod}'
    if label_selector is not None:
        text += f' [{label_selector.describe()}]'
    return Selector(kind='labels' if label_selector is not None else 'workload', text=text, namespace=namespace,
                    workload=workload, pod=pod, labels=labels, label_selector=label_selector)


def _label_text(value) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return '' if value is None else str(value)


def _label_selector(obj, where: str) -> LabelSelector:
    try:
        return LabelSelector.parse(obj, where)
    except SelectorError as exc:
        raise ExpectationError(str(exc)) from None


# -- expectations --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Expectation:
    """One validated expectation."""

    name: str
    source: Selector
    destination: Selector
    expect: str
    port_range: tuple[int, int] | None = None
    protocol: str = 'ANY'
    controls: tuple[str, ...] = ()
    description: str = ''
    index: int = 0

    @property
    def port_text(self) -> str | None:
        if self.port_range is None:
            return None
        low, high = self.port_range
        return str(low) if low == high else f'{low}-{high}'

    def l4_text(self) -> str:
        if self.protocol == 'ANY':
            return f'any protocol, port {self.port_text}' if self.port_text else 'any traffic'
        if self.port_text:
            return f'{self.protocol}/{self.port_text}'
        return self.protocol

    def describe(self) -> str:
        return f'{self.source.text} -> {self.destination.text} {self.l4_text()}'

    def l4_matches(self, protocol: str | None, port: int | None) -> bool:
        if self.protocol != 'ANY':
            observed = (protocol or '').upper()
            if self.protocol == 'ICMP':
                if observed not in ('ICMPV4', 'ICMPV6', 'ICMP'):
                    return False
            elif observed != self.protocol.upper():
                return False
        if self.port_range is not None:
            if port is None:
                return False
            low, high = self.port_range
            return low <= port <= high
        return True

    def matches(self, src: Peer, dst: Peer, protocol: str | None, port: int | None) -> bool | None:
        """True/False, or ``None`` when a label selector cannot be decided for lack of labels."""
        if not self.l4_matches(protocol, port):
            return False
        first = self.source.matches(src)
        if first is False:
            return False
        second = self.destination.matches(dst)
        if second is False:
            return False
        if first is None or second is None:
            return None
        return True

    def to_dict(self) -> dict:
        return {
            'name': self.name,
            'expect': self.expect,
            'from': self.source.to_dict(),
            'to': self.destination.to_dict(),
            'protocol': self.protocol,
            'port': self.port_text,
            'controls': list(self.controls),
            'description': self.description,
        }


def _parse_port(value, where: str) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ExpectationError(f'{where}: expected a port number (1-65535) or a range like "8000-8080"')
    if isinstance(value, int):
        low = high = value
    elif isinstance(value, str):
        text = value.strip()
        match = _PORT_RANGE.match(text)
        if match:
            low, high = int(match.group(1)), int(match.group(2))
        elif text.isdigit():
            low = high = int(text)
        else:
            raise ExpectationError(f'{where}: {value!r} is not a port number or a range like "8000-8080" (named ports are not supported)')
    else:
        raise ExpectationError(f'{where}: expected a port number (1-65535) or a range like "8000-8080"')
    if not 1 <= low <= high <= 65535:
        raise ExpectationError(f'{where}: {value!r} is out of range (1-65535, low <= high)')
    return low, high


def _parse_protocol(value, port, where: str) -> str:
    if value is None:
        return 'TCP' if port is not None else 'ANY'
    text = str(value).strip()
    for name in PROTOCOLS:
        if text in (name, name.lower()):
            if name.startswith('ICMP') and port is not None:
                raise ExpectationError(f'{where}: {name} has no ports; remove port')
            return name
    raise ExpectationError(f'{where}: {value!r} is not one of {", ".join(PROTOCOLS)} (or their lower-case forms)')


def _parse_entry(entry, index: int) -> Expectation:
    where = f'expectations[{index}]'
    if not isinstance(entry, Mapping):
        raise ExpectationError(f'{where}: expected a mapping with name, from, to, expect, got {type(entry).__name__}')
    name = entry.get('name')
    if isinstance(name, str) and name.strip():
        where = f'expectations[{index}] ({name})'
    unknown = sorted(str(key) for key in entry if key not in ENTRY_KEYS)
    if unknown:
        raise ExpectationError(f'{where}: unknown key(s) {", ".join(unknown)}; an expectation accepts {", ".join(ENTRY_KEYS)}')
    missing = [key for key in ('name', 'from', 'to', 'expect') if entry.get(key) in (None, '')]
    if missing:
        raise ExpectationError(f'{where}: missing required key(s) {", ".join(missing)}')
    if not isinstance(name, str) or not name.strip():
        raise ExpectationError(f'{where}.name: expected a non-empty string')
    expect = entry['expect']
    if expect not in EXPECT_VALUES:
        raise ExpectationError(f'{where}.expect: {expect!r} is not one of deny, allow')
    port = _parse_port(entry.get('port'), f'{where}.port')
    protocol = _parse_protocol(entry.get('protocol'), port, f'{where}.protocol')
    controls = entry.get('controls') or []
    if not isinstance(controls, list) or not all(isinstance(c, str) and c.strip() for c in controls):
        raise ExpectationError(f'{where}.controls: expected a list of control ids (strings such as CIS-5.3.2)')
    description = entry.get('description') or ''
    if not isinstance(description, str):
        raise ExpectationError(f'{where}.description: expected a string')
    return Expectation(
        name=name.strip(), source=parse_selector(entry['from'], f'{where}.from'), destination=parse_selector(entry['to'], f'{where}.to'),
        expect=expect, port_range=port, protocol=protocol, controls=tuple(c.strip() for c in controls),
        description=description.strip(), index=index)


def _schema_message(error) -> str:
    path = 'expectations file'
    parts = list(error.absolute_path)
    if parts:
        path = ''.join(f'[{p}]' if isinstance(p, int) else (f'.{p}' if i else str(p)) for i, p in enumerate(parts))
    return f'{path}: {error.message}'


def validate_against_schema(document) -> list[str]:
    """Messages of JSON-schema violations (empty when valid, or when ``jsonschema`` is not installed)."""
    try:
        import jsonschema  # optional and slow to import: only loaded when expectations are validated
    except ImportError:
        return []
    validator = jsonschema.Draft202012Validator(EXPECTATIONS_SCHEMA)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    return [_schema_message(error) for error in errors]


def load_expectations(data, source: str = 'expectations') -> list[Expectation]:
    """Validate and parse expectations: a list of entries, or ``{schema_version: 1, expectations: [...]}``."""
    if data is None:
        return []
    document = {'expectations': data} if isinstance(data, list) else data
    if not isinstance(document, Mapping):
        raise ExpectationError(f'{source}: expected a list of expectations or a mapping with an expectations list, '
                               f'got {type(data).__name__}')
    extra = sorted(str(k) for k in document if k not in ('schema_version', 'expectations'))
    if extra:
        raise ExpectationError(f'{source}: unknown top-level key(s) {", ".join(extra)}; expected schema_version and expectations')
    version = document.get('schema_version', EXPECTATIONS_SCHEMA_VERSION)
    if version != EXPECTATIONS_SCHEMA_VERSION:
        raise ExpectationError(f'{source}: schema_version {version!r} is not supported (this collection reads version {EXPECTATIONS_SCHEMA_VERSION})')
    entries = document.get('expectations')
    if not isinstance(entries, list):
        raise ExpectationError(f'{source}: expectations must be a list')
    result = []
    names: dict[str, int] = {}
    for index, entry in enumerate(entries):
        try:
            expectation = _parse_entry(entry, index)
        except ExpectationError as exc:
            raise ExpectationError(f'{source}: {exc}') from None
        if expectation.name in names:
            raise ExpectationError(f'{source}: expectations[{index}]: name {expectation.name!r} is already used by '
                                   f'expectations[{names[expectation.name]}]; names must be unique')
        names[expectation.name] = index
        result.append(expectation)
    problems = validate_against_schema(_plain(document))
    if problems:
        raise ExpectationError(f'{source}: does not match the expectations schema: ' + '; '.join(problems[:5]))
    return result


def _plain(value):
    """Ansible/YAML wrapper types to plain JSON types (for the schema validator)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
        return value
    return str(value)


def read_expectations_file(path: str) -> list[Expectation]:
    """Read and validate a YAML/JSON expectations file."""
    if not os.path.isfile(path):
        raise ExpectationError(f'expectations file {path} does not exist')
    data = load_single_document(path, ExpectationError, 'expectations file ')
    if data is None:
        raise ExpectationError(f'{path} is empty; expected schema_version and an expectations list')
    return load_expectations(data, source=path)


# -- observations and the judge ----------------------------------------------------------------------
@dataclass(frozen=True)
class Observation:
    """Something the run saw: a violation (dropped), an allowed flow, or a probe result."""

    kind: str            # 'drop' or 'allowed'
    origin: str          # 'violation', 'other_drop' (datapath drop, not judged), 'flow' or 'probe'
    ref: str             # violation id, flow uuid/reference or probe name
    src: Peer
    dst: Peer
    protocol: str | None = None
    port: int | None = None
    reason: str | None = None
    count: int = 1
    text: str = ''

    @property
    def policy_drop(self) -> bool:
        return self.kind == 'drop' and (self.reason or '').upper() in POLICY_DROP_REASONS


@dataclass
class JudgeResult:
    """Per-expectation results plus the classification of every violation observation."""

    expectations: list = field(default_factory=list)
    classification: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


def _texts(observations: list[Observation]) -> str:
    shown = [obs.text or obs.ref for obs in observations[:3]]
    more = len(observations) - len(shown)
    return '; '.join(shown) + (f' (and {more} more)' if more > 0 else '')


def judge(expectations: list[Expectation], observations: Iterable[Observation],
          predict: Callable[[Expectation], dict | None] | None = None) -> JudgeResult:
    """Verdicts per expectation and a class per violation (see the module docstring).

    ``predict(expectation)`` may return ``{"verdict": "allow"|"deny"|"unknown", "explanation": str, ...}``
    from evaluating the policy snapshot; it sharpens explanations and predicts outages of allow
    expectations that nothing exercised.
    """
    observations = list(observations)
    result = JudgeResult()
    undecidable: set[str] = set()
    matches: dict[str, list[Observation]] = {e.name: [] for e in expectations}
    first_match: dict[str, Expectation] = {}
    for obs in observations:
        for expectation in expectations:
            verdict = expectation.matches(obs.src, obs.dst, obs.protocol, obs.port)
            if verdict is None:
                undecidable.add(expectation.name)
                continue
            if verdict:
                matches[expectation.name].append(obs)
                if obs.origin == 'violation' and obs.ref not in first_match:
                    first_match[obs.ref] = expectation
    for obs in observations:
        if obs.origin != 'violation':
            continue
        expectation = first_match.get(obs.ref)
        if expectation is None:
            result.classification[obs.ref] = {'classification': UNREVIEWED, 'expectation': None}
        else:
            result.classification[obs.ref] = {
                'classification': EXPECTED if expectation.expect == 'deny' else OUTAGE_RISK,
                'expectation': expectation.name,
            }
    for expectation in expectations:
        prediction = predict(expectation) if predict is not None else None
        entry = _judge_one(expectation, matches[expectation.name], prediction)
        if expectation.name in undecidable:
            entry['notes'].append('some observations could not be matched: the label selector needs pod labels '
                                  '(give a policy snapshot, or Hubble flows that carry labels)')
        result.expectations.append(entry)
    return result


def _judge_one(expectation: Expectation, observed: list[Observation], prediction: dict | None) -> dict:
    drops = [o for o in observed if o.kind == 'drop']
    policy_drops = [o for o in drops if o.policy_drop]
    other_drops = [o for o in drops if not o.policy_drop]
    allowed = [o for o in observed if o.kind == 'allowed']
    what = expectation.describe()
    predicted = (prediction or {}).get('verdict')
    predicted_text = (prediction or {}).get('explanation')
    basis = 'observed'
    if expectation.expect == 'deny':
        if allowed:
            verdict, category = FAIL, UNEXPECTED_ALLOW
            explanation = (f'{what} must be denied, but {len(allowed)} observation(s) show it allowed: {_texts(allowed)}'
                           + (f'; {len(policy_drops)} drop(s) were also seen' if policy_drops else ''))
        elif policy_drops:
            verdict, category = PASS, CONTROL_PROVEN
            explanation = f'{what} was denied as expected: {_texts(policy_drops)}'
        else:
            verdict, category = FAIL, CONTROL_UNPROVEN
            explanation = f'no policy drop of {what} was observed, so the control is not proven by this run'
            if other_drops:
                explanation += f' (dropped for a non-policy reason: {_texts(other_drops)})'
            if predicted == 'deny':
                basis = 'predicted'
                explanation += '; the current policies would deny it: exercise the traffic (e.g. a probe) to prove it'
            elif predicted == 'allow':
                basis = 'predicted'
                explanation += '; WARNING: the current policies would ALLOW it, so the control looks missing'
    else:
        # A datapath drop (not a policy verdict) matching allowed traffic is named, but it is not a policy outage.
        unjudged = [o for o in drops if o.origin == OTHER_DROP]
        drops = [o for o in drops if o.origin != OTHER_DROP]
        denied_probes = [o for o in drops if o.origin == 'probe']
        if drops:
            verdict, category = FAIL, OUTAGE_RISK
            explanation = f'{what} must be allowed, but it was dropped: {_texts(drops)}'
            if denied_probes and len(denied_probes) == len(drops):
                explanation = f'{what} must be allowed, but probes failed: {_texts(drops)}'
        elif predicted == 'deny':
            verdict, category, basis = FAIL, OUTAGE_RISK, 'predicted'
            explanation = f'{what} must be allowed; no drop was observed, but the current policies would deny it'
        elif allowed:
            verdict, category = PASS, ALLOW_OBSERVED
            explanation = f'{what} was observed allowed: {_texts(allowed)}'
        else:
            verdict, category = PASS, ALLOW_NOT_CONTRADICTED
            explanation = f'no drop of {what} was observed (the traffic itself was not seen either)'
            if predicted == 'allow':
                basis = 'predicted'
                explanation += '; the current policies allow it'
        if unjudged:
            explanation += f' (also dropped for a reason that is not a policy verdict, not judged: {_texts(unjudged)})'
    if predicted_text and basis == 'predicted':
        explanation += f' ({predicted_text})'
    entry = expectation.to_dict()
    entry.update({
        'verdict': verdict,
        'category': category,
        'basis': basis,
        'explanation': explanation,
        'observed': {'drops': sum(o.count for o in drops if o.origin != OTHER_DROP), 'policy_drops': sum(o.count for o in policy_drops),
                     'allowed': sum(o.count for o in allowed),
                     'other_drops': sum(o.count for o in observed if o.origin == OTHER_DROP)},
        'violations': [o.ref for o in drops if o.origin == 'violation'],
        'evidence': [{'origin': o.origin, 'kind': o.kind, 'ref': o.ref, 'text': o.text or o.ref} for o in observed[:MAX_LISTED]],
        'prediction': prediction,
        'notes': [],
    })
    return entry


# -- baseline --------------------------------------------------------------------------------------------
def diff_baseline(current: Mapping, baseline: Mapping, baseline_source: str | None = None) -> dict:
    """new / resolved / persisting violations (by id) and expectation verdict changes against a previous report."""
    before = {v.get('id'): v for v in baseline.get('violations') or [] if isinstance(v, Mapping) and v.get('id')}
    after = {v.get('id'): v for v in current.get('violations') or [] if isinstance(v, Mapping) and v.get('id')}
    # A drop an older report listed as a violation and this one lists under other drops (not a policy verdict) is still
    # seen: it is not resolved.
    other = current.get('other_drops') if isinstance(current.get('other_drops'), Mapping) else {}
    still_seen = {v.get('id') for v in other.get('items') or [] if isinstance(v, Mapping)}
    changes = []
    old_results = {e.get('name'): e for e in baseline.get('expectations') or [] if isinstance(e, Mapping)}
    for entry in current.get('expectations') or []:
        previous = old_results.get(entry.get('name'))
        if previous is None:
            changes.append({'name': entry['name'], 'before': None, 'after': entry['verdict'], 'category': entry['category']})
        elif previous.get('verdict') != entry.get('verdict') or previous.get('category') != entry.get('category'):
            changes.append({'name': entry['name'], 'before': previous.get('verdict'), 'after': entry['verdict'],
                            'category': entry['category'], 'previous_category': previous.get('category')})
    removed = sorted(name for name in old_results if name not in {e.get('name') for e in current.get('expectations') or []})
    for name in removed:
        changes.append({'name': name, 'before': old_results[name].get('verdict'), 'after': None, 'category': None})
    run = baseline.get('run') if isinstance(baseline.get('run'), Mapping) else {}
    return {
        'source': baseline_source,
        'generated_at': run.get('generated_at'),
        'new': sorted(k for k in after if k not in before),
        'resolved': sorted(k for k in before if k not in after and k not in still_seen),
        'persisting': sorted(k for k in after if k in before),
        'resolved_details': [_violation_brief(before[k]) for k in sorted(before) if k not in after and k not in still_seen][:100],
        'expectation_changes': changes,
    }


def _violation_brief(violation: Mapping) -> dict:
    return {'id': violation.get('id'), 'key': violation.get('key'), 'summary': violation.get('summary')}
