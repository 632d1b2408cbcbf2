# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one parser of Cilium/Hubble label strings (``k8s:app=nginx``, ``reserved:world``, ``app=nginx``).

Cilium writes a label as ``source:key=value`` (``pkg/labels``: ``Label.String()``). The value may contain ``:`` and
``=``, a Kubernetes label key never contains ``=`` and its source never contains ``=`` either; so the string is
split at the first ``=`` into name and value, then the name at its first ``:`` into source and key.
"""

from __future__ import annotations

from collections.abc import Iterable

SOURCE_ANY = 'any'
SOURCE_K8S = 'k8s'
SOURCE_RESERVED = 'reserved'
SOURCE_UNSPEC = 'unspec'

# Labels Cilium derives for every pod endpoint (pkg/k8s/apis/cilium.io, pkg/policy/api).
NAMESPACE_LABEL = 'io.kubernetes.pod.namespace'
NAMESPACE_LABELS_PREFIX = 'io.cilium.k8s.namespace.labels.'
POLICY_LABELS_PREFIX = 'io.cilium.k8s.policy.'
SERVICE_ACCOUNT_LABEL = 'io.cilium.k8s.policy.serviceaccount'
CLUSTER_LABEL = 'io.cilium.k8s.policy.cluster'


def split_source(key: str, default: str = SOURCE_ANY) -> tuple[str, str]:
    """``"k8s:app"`` -> ``("k8s", "app")``; ``"app"`` -> ``(default, "app")`` (a label key cannot contain ``:``)."""
    source, sep, rest = key.partition(':')
    if not sep:
        return default, key
    return source, rest


def parse_label(text: str, default_source: str = SOURCE_UNSPEC) -> tuple[str, str, str]:
    """``"k8s:app=nginx"`` -> ``("k8s", "app", "nginx")``; ``"reserved:world"`` -> ``("reserved", "world", "")``;
    ``"app=a:b"`` -> ``(default_source, "app", "a:b")``."""
    name, _sep, value = text.partition('=')
    source, key = split_source(name, default_source)
    return source, key, value


def split_pod_labels(strings: Iterable) -> tuple[dict, dict, str | None, str | None]:
    """Hubble/Cilium label strings of a pod endpoint -> (pod labels, namespace labels, namespace, service account).

    Only the ``k8s`` source counts; the labels Cilium adds itself (namespace, namespace labels, ``io.cilium.k8s.policy.*``)
    are taken out of the pod labels. Non-strings are skipped.
    """
    pod_labels: dict[str, str] = {}
    ns_labels: dict[str, str] = {}
    namespace = service_account = None
    for text in strings or ():
        if not isinstance(text, str):
            continue
        source, key, value = parse_label(text)
        if source != SOURCE_K8S:
            continue
        if key == NAMESPACE_LABEL:
            namespace = value
        elif key.startswith(NAMESPACE_LABELS_PREFIX):
            ns_labels[key[len(NAMESPACE_LABELS_PREFIX):]] = value
        elif key == SERVICE_ACCOUNT_LABEL:
            service_account = value
        elif not key.startswith(POLICY_LABELS_PREFIX):
            pod_labels[key] = value
    return pod_labels, ns_labels, namespace, service_account
