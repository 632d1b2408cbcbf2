# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Detect which CNI plugins a cluster already runs (backs ``netobs.cilium.cni_info`` and the install role's guard).

``detect(daemonsets, deployments, installations)`` is pure: it matches DaemonSets, Deployments
and Tigera ``Installation`` objects against known CNI signatures (Calico, Canal, Flannel,
Weave Net, kindnet, AWS VPC CNI, Antrea, kube-router, Cilium). ``gather(api)`` reads those
objects through ``KubeAPI`` (cluster-wide first, falling back to well-known namespaces when
cluster-wide listing is forbidden).
"""

from __future__ import annotations

MIGRATION_DOC = 'Cilium documentation "Migrating a cluster to Cilium" (https://docs.cilium.io/en/stable/installation/k8s-install-migration/)'
FALLBACK_NAMESPACES = ('kube-system', 'calico-system', 'tigera-operator', 'kube-flannel', 'weave')

# (cni id, display name, kind, how to match): match on metadata.name, a name prefix, or a label.
SIGNATURES = (
    ('calico', 'Calico', 'DaemonSet', {'name': 'calico-node'}),
    ('calico', 'Calico', 'Deployment', {'name': 'tigera-operator'}),
    ('calico', 'Calico', 'Deployment', {'name': 'calico-kube-controllers'}),
    ('canal', 'Canal (Calico + Flannel)', 'DaemonSet', {'name': 'canal'}),
    ('flannel', 'Flannel', 'DaemonSet', {'prefix': 'kube-flannel'}),
    ('flannel', 'Flannel', 'DaemonSet', {'label': ('app', 'flannel')}),
    ('weave', 'Weave Net', 'DaemonSet', {'name': 'weave-net'}),
    ('kindnet', 'kindnet (kind\'s default CNI)', 'DaemonSet', {'name': 'kindnet'}),
    ('aws-vpc-cni', 'Amazon VPC CNI', 'DaemonSet', {'name': 'aws-node'}),
    ('antrea', 'Antrea', 'DaemonSet', {'name': 'antrea-agent'}),
    ('kube-router', 'kube-router', 'DaemonSet', {'name': 'kube-router'}),
    ('cilium', 'Cilium', 'DaemonSet', {'label': ('k8s-app', 'cilium')}),
    ('cilium', 'Cilium', 'DaemonSet', {'name': 'cilium'}),
)
DISPLAY = {cni: display for cni, display, _kind, _match in SIGNATURES}
DISPLAY['calico'] = 'Calico'
_HINTS = {
    'kindnet': 'for kind, recreate the cluster with networking.disableDefaultCNI: true in the kind config',
    'calico': 'Calico must be removed (or migrated per-node) before Cilium owns pod networking',
    'canal': 'Canal must be removed (or migrated per-node) before Cilium owns pod networking',
    'aws-vpc-cni': 'on EKS, follow Cilium\'s EKS guide (chaining or removing aws-node) instead of installing over it',
}


def _matches(obj, match):
    meta = obj.get('metadata') or {}
    name = meta.get('name') or ''
    if 'name' in match:
        return name == match['name']
    if 'prefix' in match:
        return name.startswith(match['prefix'])
    key, value = match['label']
    return (meta.get('labels') or {}).get(key) == value


def _ref(kind, obj):
    meta = obj.get('metadata') or {}
    return '%s %s' % (kind, '%s/%s' % (meta['namespace'], meta.get('name')) if meta.get('namespace') else meta.get('name'))


def detect(daemonsets, deployments, installations):
    """Return ``{cnis, conflicting, cilium_present, message}`` for the given objects."""
    found = {}
    by_kind = {'DaemonSet': daemonsets or [], 'Deployment': deployments or []}
    for cni, _display, kind, match in SIGNATURES:
        for obj in by_kind[kind]:
            if _matches(obj, match):
                ref = _ref(kind, obj)
                if ref not in found.setdefault(cni, []):
                    found[cni].append(ref)
    for obj in installations or []:
        found.setdefault('calico', []).append(_ref('Installation.operator.tigera.io', obj))
    # Canal ships a flannel container but is its own CNI; a "flannel" label on the canal DaemonSet is not Flannel.
    if 'canal' in found and 'flannel' in found:
        found['flannel'] = [ref for ref in found['flannel'] if ref not in found['canal']]
        if not found['flannel']:
            del found['flannel']
    cnis = [{'name': cni, 'display': DISPLAY.get(cni, cni), 'objects': sorted(objects)} for cni, objects in sorted(found.items())]
    conflicting = [c['name'] for c in cnis if c['name'] != 'cilium']
    result = {
        'cnis': cnis,
        'conflicting': conflicting,
        'cilium_present': 'cilium' in found,
        'cilium_objects': sorted(found.get('cilium', [])),
    }
    result['message'] = guidance(result)
    return result


def guidance(result):
    """Human guidance for a detection result (one paragraph)."""
    if not result['conflicting']:
        if result['cilium_present']:
            return 'Cilium is already installed (%s): the install is an upgrade of that release.' % ', '.join(result['cilium_objects'])
        return 'No other CNI found.'
    parts = []
    for cni in result['cnis']:
        if cni['name'] == 'cilium':
            continue
        parts.append('%s (%s)' % (cni['display'], ', '.join(cni['objects'])))
    hints = [_HINTS[name] for name in result['conflicting'] if name in _HINTS]
    return ('Found another CNI: %s. Installing Cilium next to it leaves two plugins competing for pod networking and breaks '
            'connectivity. Migrating to Cilium is a separate, deliberate step: follow the %s, or remove the other CNI first%s. '
            'Set install_allow_existing_cni: true only when you do that on purpose (for example during such a migration).'
            % ('; '.join(parts), MIGRATION_DOC, ('; ' + '; '.join(hints)) if hints else ''))


def _list_all(api, path, params):
    items = []
    for page in api.list_pages(path, params=params):
        items.extend(page.get('items') or [])
    return items


def gather(api, error_class=Exception):
    """Read DaemonSets, the relevant Deployments and Tigera Installations; return ``(daemonsets, deployments, installations, notes)``."""
    notes = []
    try:
        daemonsets = _list_all(api, '/apis/apps/v1/daemonsets', None)
    except error_class as exc:
        if getattr(exc, 'status', None) != 403:
            raise
        notes.append('cluster-wide DaemonSet listing forbidden; checked namespaces %s only' % ', '.join(FALLBACK_NAMESPACES))
        daemonsets = []
        for namespace in FALLBACK_NAMESPACES:
            try:
                daemonsets.extend(_list_all(api, '/apis/apps/v1/namespaces/%s/daemonsets' % namespace, None))
            except error_class as inner:
                if getattr(inner, 'status', None) not in (403, 404):
                    raise
                notes.append('cannot list DaemonSets in %s: HTTP %s' % (namespace, getattr(inner, 'status', '?')))
    deployments = []
    for name in ('tigera-operator', 'calico-kube-controllers'):
        try:
            items = _list_all(api, '/apis/apps/v1/deployments', {'fieldSelector': 'metadata.name=%s' % name})
        except error_class as exc:
            if getattr(exc, 'status', None) != 403:
                raise
            notes.append('cannot list Deployments cluster-wide (HTTP 403); %s not checked' % name)
            continue
        deployments.extend(d for d in items if (d.get('metadata') or {}).get('name') == name)
    installations = []
    try:
        installations = _list_all(api, '/apis/operator.tigera.io/v1/installations', None)
    except error_class as exc:
        status = getattr(exc, 'status', None)
        if status == 403:
            notes.append('cannot list operator.tigera.io Installations (HTTP 403)')
        elif status != 404:
            raise
    return daemonsets, deployments, installations, notes
