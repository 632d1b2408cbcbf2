# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes label selectors and Cilium source-qualified labels.

``LabelSelector`` implements ``matchLabels`` + ``matchExpressions`` (``In``, ``NotIn``, ``Exists``,
``DoesNotExist``) exactly as Kubernetes does: all requirements are ANDed, an empty selector
matches everything, ``NotIn`` and ``DoesNotExist`` match when the key is absent.

Cilium labels carry a *source*: ``k8s:app=nginx``, ``reserved:world``. A selector key without a
source (``app``) is treated by Cilium as ``any:app`` and matches the key from any source; a key
with a source (``k8s:app``) matches only that source. ``CiliumLabels`` is a read-only mapping
that answers selector lookups with those rules, so the same ``LabelSelector`` works for plain
Kubernetes label dicts (NetworkPolicy) and for Cilium endpoint labels (CiliumNetworkPolicy).

Pure Python, no third-party imports.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from ansible_collections.netobs.cilium.plugins.module_utils._common.errors import NetobsError
from ansible_collections.netobs.cilium.plugins.module_utils._common.labels import (  # pylint: disable=unused-import  # re-exported
    CLUSTER_LABEL, NAMESPACE_LABEL, NAMESPACE_LABELS_PREFIX, SERVICE_ACCOUNT_LABEL, SOURCE_ANY, SOURCE_K8S, SOURCE_RESERVED,
    split_source)

OPERATORS = ('In', 'NotIn', 'Exists', 'DoesNotExist')

# Pod labels Cilium's default identity-label filter leaves out of the security identity, so
# selectors on them never match (pkg/labelsfilter defaults; a documented subset).
NON_IDENTITY_LABELS = frozenset((
    'pod-template-hash',
    'controller-revision-hash',
    'pod-template-generation',
    'controller-uid',
    'statefulset.kubernetes.io/pod-name',
    'apps.kubernetes.io/pod-index',
    'batch.kubernetes.io/job-completion-index',
    'batch.kubernetes.io/controller-uid',
))


class SelectorError(NetobsError, ValueError):
    """A label selector that Kubernetes/Cilium would reject (the message says what and where)."""


def label_value(value) -> str:
    """Render a YAML scalar as the label string Kubernetes would store (``true`` -> ``"true"``)."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if value is None:
        return ''
    return str(value)


def identity_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The pod labels that take part in a Cilium security identity."""
    return {key: value for key, value in labels.items() if key not in NON_IDENTITY_LABELS}


@dataclass(frozen=True, slots=True)
class Requirement:
    """One selector requirement; ``matchLabels`` entries become ``In`` with one value."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == 'In':
            return present and labels[self.key] in self.values
        if self.operator == 'NotIn':
            return not present or labels[self.key] not in self.values
        if self.operator == 'Exists':
            return present
        return not present  # DoesNotExist

    def describe(self) -> str:
        if self.operator == 'In' and len(self.values) == 1:
            return f'{self.key}={self.values[0]}'
        if self.operator == 'Exists':
            return self.key
        if self.operator == 'DoesNotExist':
            return f'!{self.key}'
        word = 'in' if self.operator == 'In' else 'notin'
        return f"{self.key} {word} ({','.join(self.values)})"


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A parsed ``metav1.LabelSelector``; ``requirements`` holds matchLabels then matchExpressions."""

    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def parse(cls, obj, where: str = 'selector') -> LabelSelector:
        """Parse a selector dict; ``None`` and ``{}`` give the empty (match-all) selector."""
        if obj is None:
            return cls()
        if not isinstance(obj, Mapping):
            raise SelectorError(f'{where}: expected a mapping with matchLabels/matchExpressions, got {type(obj).__name__}')
        reqs: list[Requirement] = []
        match_labels = obj.get('matchLabels') or {}
        if not isinstance(match_labels, Mapping):
            raise SelectorError(f'{where}.matchLabels: expected a mapping of label key to value')
        for key in sorted(match_labels):
            reqs.append(Requirement(str(key), 'In', (label_value(match_labels[key]),)))
        expressions = obj.get('matchExpressions') or []
        if not isinstance(expressions, list):
            raise SelectorError(f'{where}.matchExpressions: expected a list')
        for index, expr in enumerate(expressions):
            reqs.append(_parse_expression(expr, f'{where}.matchExpressions[{index}]'))
        return cls(tuple(reqs))

    @property
    def is_empty(self) -> bool:
        return not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(req.matches(labels) for req in self.requirements)

    def keys(self) -> frozenset[str]:
        return frozenset(req.key for req in self.requirements)

    def with_requirements(self, *extra: Requirement) -> LabelSelector:
        return LabelSelector(self.requirements + tuple(extra))

    def without(self, predicate) -> LabelSelector:
        """A copy without the requirements for which ``predicate(req)`` is true."""
        return LabelSelector(tuple(req for req in self.requirements if not predicate(req)))

    def describe(self) -> str:
        """kubectl-style text (``app=nginx,tier in (a,b)``); ``{}`` for the empty selector."""
        if not self.requirements:
            return '{}'
        return ','.join(req.describe() for req in self.requirements)


def _parse_expression(expr, where: str) -> Requirement:
    if not isinstance(expr, Mapping):
        raise SelectorError(f'{where}: expected a mapping with key/operator/values')
    key = expr.get('key')
    operator = expr.get('operator')
    if not key or not isinstance(key, str):
        raise SelectorError(f'{where}: "key" is required')
    if operator not in OPERATORS:
        raise SelectorError(f'{where}: operator {operator!r} is not one of {", ".join(OPERATORS)}')
    values = expr.get('values') or []
    if not isinstance(values, list):
        raise SelectorError(f'{where}: "values" must be a list')
    if operator in ('In', 'NotIn') and not values:
        raise SelectorError(f'{where}: operator {operator} needs at least one value')
    if operator in ('Exists', 'DoesNotExist') and values:
        raise SelectorError(f'{where}: operator {operator} takes no values')
    return Requirement(key, operator, tuple(sorted(label_value(v) for v in values)))


class CiliumLabels(Mapping):
    """Source-qualified labels answering Cilium selector lookups.

    ``labels["k8s:app"]`` looks in the ``k8s`` source only, ``labels["app"]`` and
    ``labels["any:app"]`` in every source (``k8s`` first). Iteration yields ``source:key``.
    """

    __slots__ = ('_by_source', '_any')

    def __init__(self, items: Iterable[tuple[str, str, str]] = ()):
        by_source: dict[tuple[str, str], str] = {}
        any_source: dict[str, str] = {}
        for source, key, value in items:
            by_source[(source, key)] = value
            if key not in any_source or source == SOURCE_K8S:
                any_source[key] = value
        self._by_source = by_source
        self._any = any_source

    @classmethod
    def for_pod(cls, labels: Mapping[str, str], namespace: str, namespace_labels: Mapping[str, str] | None = None,
                service_account: str | None = None, cluster: str | None = None) -> CiliumLabels:
        """The identity labels Cilium gives a pod endpoint."""
        items = [(SOURCE_K8S, key, value) for key, value in identity_labels(labels).items()]
        items.append((SOURCE_K8S, NAMESPACE_LABEL, namespace))
        for key, value in (namespace_labels or {}).items():
            items.append((SOURCE_K8S, NAMESPACE_LABELS_PREFIX + key, value))
        if service_account:
            items.append((SOURCE_K8S, SERVICE_ACCOUNT_LABEL, service_account))
        if cluster:
            items.append((SOURCE_K8S, CLUSTER_LABEL, cluster))
        return cls(items)

    @classmethod
    def reserved(cls, *names: str) -> CiliumLabels:
        """Labels of a reserved identity (``reserved:world`` ...)."""
        return cls((SOURCE_RESERVED, name, '') for name in names)

    def _lookup(self, key: str):
        source, name = split_source(key)
        if source == SOURCE_ANY:
            return self._any.get(name)
        return self._by_source.get((source, name))

    def __getitem__(self, key: str) -> str:
        value = self._lookup(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key) -> bool:
        return isinstance(key, str) and self._lookup(key) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(f'{source}:{key}' for source, key in self._by_source)

    def __len__(self) -> int:
        return len(self._by_source)
