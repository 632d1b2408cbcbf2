# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check that a Cilium installation can emit PacketDrop events (backs ``netobs.cilium.cilium_config_info``).

Inputs are raw Kubernetes objects (``cilium-config`` ConfigMap, agent pods, the ``cilium``
ClusterRole, the ``hubble-relay`` Deployment), read live through ``KubeAPI`` or from saved
files. ``evaluate()`` is pure and returns named checks, each
``{name, status: pass|fail|unknown, message (one line), details}``.

Version-dependent facts (Cilium 1.16-1.20):

* ``hubble-drop-events-reasons``: 1.16 splits the string on whitespace only (so a comma-joined
  value, as rendered by charts 1.16.0-pre.0 ... rc.1, is one bogus token); 1.17+ split on commas
  and, when that gives one element, on whitespace. Up to 1.18 matching is an exact compare with
  the lower-case reason (``POLICY_DENIED`` silently never matches); 1.19+ is case-insensitive and
  ignores unknown names. Agent defaults when the key is absent: 1.16 ``"auth_required,policy_denied"``
  (one bogus token), 1.17+ ``auth_required policy_denied`` (no ``policy_deny``).
* ``hubble-drop-events-extended`` / ``hubble-drop-events-rate-limit`` exist from 1.19; the rate
  limiter is consulted for every decoded flow, so the default of 1 per second skips drop events
  on busy nodes.
* ``bpf-events-drop-enabled`` / ``bpf-events-policy-verdict-enabled`` default to true when absent.
* The agent ClusterRole needs ``create``/``patch`` on ``events`` (rendered by the chart only when
  ``hubble.dropEventEmitter.enabled`` is true).
"""

from __future__ import annotations

import re

from ansible_collections.netobs.cilium.plugins.module_utils._common.documents import flatten_lists, load_documents
from ansible_collections.netobs.cilium.plugins.module_utils._common.errors import NetobsError
from ansible_collections.netobs.cilium.plugins.module_utils.install.values import DROP_REASONS, InstallValuesError, parse_go_duration

CHECK_NAMES = (
    'hubble_enabled', 'drop_events_enabled', 'drop_events_interval', 'drop_events_reasons', 'drop_events_extended',
    'drop_events_rate_limit', 'policy_audit_mode', 'bpf_drop_events', 'bpf_policy_verdict_events', 'events_rbac',
    'agents_ready', 'relay_ready',
)
REQUIRED_REASONS = ('policy_denied', 'policy_deny')
DEFAULT_INTERVAL = '2m'
AGENT_SELECTOR = 'k8s-app=cilium'
_IMAGE_TAG_RE = re.compile(r':v?(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.]+)?(?:@|$)')
_CHART_LABEL_RE = re.compile(r'^cilium-(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.]+)?$')
_FAMILIES = ((16, '1.16'), (17, '1.17-1.18'), (19, '1.19+'))


class CiliumConfigError(NetobsError):
    """A saved file could not be read or parsed."""


def check(name, status, message, **details):
    """One check result."""
    return {'name': name, 'status': status, 'message': ' '.join(str(message).split()), 'details': details}


# ---------------------------------------------------------------------------------------------- versions
def version_from_image(image):
    """``quay.io/cilium/cilium:v1.19.6@sha256:...`` -> ``'1.19.6'`` (None when the tag is not a version)."""
    match = _IMAGE_TAG_RE.search(image or '')
    if not match:
        return None
    return '%s.%s.%s%s' % (match.group(1), match.group(2), match.group(3), match.group(4) or '')


def _minor(version):
    if not version:
        return None
    match = re.match(r'^v?1\.(\d+)\.', version)
    return int(match.group(1)) if match else None


def detect_version(configmap, pods, override=None):
    """Return ``(version or None, source)`` from an explicit value, the agent image tags or ConfigMap labels."""
    if override:
        return str(override).lstrip('v'), 'cilium_version option'
    versions = set()
    for pod in pods or []:
        for container in ((pod.get('spec') or {}).get('containers') or []):
            if container.get('name') == 'cilium-agent' or len((pod.get('spec') or {}).get('containers') or []) == 1:
                found = version_from_image(container.get('image'))
                if found:
                    versions.add(found)
    if versions:
        ordered = sorted(versions, key=lambda v: [int(x) for x in re.findall(r'\d+', v)[:3]])
        source = 'agent image tag' if len(ordered) == 1 else 'agent image tags (mixed: %s; oldest used)' % ', '.join(ordered)
        return ordered[0], source
    labels = ((configmap or {}).get('metadata') or {}).get('labels') or {}
    match = _CHART_LABEL_RE.match(labels.get('helm.sh/chart', ''))
    if match:
        return '%s.%s.%s%s' % (match.group(1), match.group(2), match.group(3), match.group(4) or ''), 'ConfigMap label helm.sh/chart'
    if labels.get('app.kubernetes.io/version') and _minor('%s' % labels['app.kubernetes.io/version'].lstrip('v')) is not None:
        return labels['app.kubernetes.io/version'].lstrip('v'), 'ConfigMap label app.kubernetes.io/version'
    return None, 'not detected (no agent pods with a version tag, no version label on the ConfigMap)'


def _family(minor):
    chosen = None
    for since, name in _FAMILIES:
        if minor >= since:
            chosen = name
    return chosen


# ---------------------------------------------------------------------------------------------- reasons
def effective_reasons(value, minor):
    """What the agent of ``1.<minor>`` matches for a ``hubble-drop-events-reasons`` value (None = key absent).

    Returns ``(set of lower-case reasons that can match, list of {token, why} that never match)``.
    """
    ignored = []
    if value is None:
        if minor < 17:
            return set(), [{'token': 'auth_required,policy_denied',
                            'why': 'agent default on 1.16 is one comma-joined string that never matches'}]
        return {'auth_required', 'policy_denied'}, []
    if minor < 17:
        tokens = value.split()
    else:
        tokens = value.split(',')
        if len(tokens) == 1:
            tokens = tokens[0].split()
    effective = set()
    for token in tokens:
        if minor >= 19:
            if token.upper() in {r.upper() for r in DROP_REASONS}:
                effective.add(token.lower())
            else:
                ignored.append({'token': token, 'why': 'not a drop reason name (the agent logs "Ignoring invalid drop reason")'})
            continue
        if token in DROP_REASONS:
            effective.add(token)
        elif token.lower() in DROP_REASONS:
            ignored.append({'token': token, 'why': 'matching is case-sensitive before 1.19: write "%s"' % token.lower()})
        elif ',' in token:
            ignored.append({'token': token, 'why': 'Cilium 1.16 splits reasons on whitespace only: a comma-joined value '
                                                   '(charts 1.16.0-pre.0 ... rc.1) never matches'})
        else:
            ignored.append({'token': token, 'why': 'not a drop reason name'})
    return effective, ignored


def _reasons_check(data, minor, emitter_on):
    value = data.get('hubble-drop-events-reasons')
    minors = [max(minor, 16)] if minor is not None else [16, 17, 19]
    outcomes = {}
    for each in minors:
        effective, ignored = effective_reasons(value, each)
        missing = [r for r in REQUIRED_REASONS if r not in effective]
        outcomes[_family(each)] = (effective, ignored, missing)
    verdicts = {family: not out[2] for family, out in outcomes.items()}
    first = next(iter(outcomes.values()))
    details = {'value': value, 'effective': sorted(first[0]), 'ignored': first[1], 'missing': first[2], 'required': list(REQUIRED_REASONS)}
    if minor is None:
        details['by_version'] = {family: {'effective': sorted(out[0]), 'missing': out[2], 'ignored': out[1]}
                                 for family, out in outcomes.items()}
        if len(set(verdicts.values())) > 1:
            return check('drop_events_reasons', 'unknown',
                         'reasons %r work on Cilium %s but not on %s; the Cilium version was not detected (set cilium_version)'
                         % (value, ', '.join(f for f, ok in verdicts.items() if ok), ', '.join(f for f, ok in verdicts.items() if not ok)),
                         **details)
    if not first[2]:
        note = '' if emitter_on else ' (but the emitter is off)'
        return check('drop_events_reasons', 'pass', 'reasons include %s%s; effective: %s'
                     % (' and '.join(REQUIRED_REASONS), note, ' '.join(sorted(first[0]))), **details)
    why = []
    if value is None:
        why.append('key absent, agent default %s' % ('is broken on 1.16' if minor is not None and minor < 17 else 'has no policy_deny'))
    for item in first[1]:
        why.append('"%s": %s' % (item['token'], item['why']))
    hint = 'policy_deny is the reason for explicit deny rules; ' if 'policy_deny' in first[2] else ''
    return check('drop_events_reasons', 'fail', 'missing %s (%s%s); set hubble.dropEventEmitter.reasons (lower-case names)'
                 % (', '.join(first[2]), hint, '; '.join(why) or 'not listed'), **details)


# ---------------------------------------------------------------------------------------------- objects
def _rule_allows(rule, verb):
    groups = rule.get('apiGroups') or []
    resources = rule.get('resources') or []
    verbs = rule.get('verbs') or []
    if rule.get('resourceNames'):
        return False
    return ('' in groups or '*' in groups) and ('events' in resources or '*' in resources) and (verb in verbs or '*' in verbs)


def _rbac_check(clusterrole, error, name):
    if error:
        return check('events_rbac', 'unknown', 'could not read ClusterRole %s: %s' % (name, error), clusterrole=name)
    if clusterrole is None:
        return check('events_rbac', 'unknown', 'ClusterRole %s not provided (offline mode without clusterrole_src)' % name, clusterrole=name)
    if clusterrole is False:
        return check('events_rbac', 'fail', 'ClusterRole %s not found: the agent cannot create events' % name, clusterrole=name)
    rules = clusterrole.get('rules') or []
    missing = [verb for verb in ('create', 'patch') if not any(_rule_allows(rule, verb) for rule in rules)]
    if missing:
        return check('events_rbac', 'fail',
                     'ClusterRole %s lacks %s on events (apiGroup ""): the chart adds it only with hubble.dropEventEmitter.enabled=true; '
                     'enabling hubble-drop-events via extraConfig or by editing the ConfigMap leaves the agent without permission'
                     % (name, ' and '.join(missing)), clusterrole=name, missing_verbs=missing)
    return check('events_rbac', 'pass', 'ClusterRole %s allows create and patch on events' % name, clusterrole=name, missing_verbs=[])


def _ready_pod(pod):
    for cond in (pod.get('status') or {}).get('conditions') or []:
        if cond.get('type') == 'Ready':
            return cond.get('status') == 'True'
    return False


def _agents_check(pods, error, namespace):
    if error:
        return check('agents_ready', 'unknown', 'could not list agent pods: %s' % error)
    if pods is None:
        return check('agents_ready', 'unknown', 'agent pods not provided (offline mode)')
    if not pods:
        return check('agents_ready', 'fail', 'no agent pods (%s) in namespace %s' % (AGENT_SELECTOR, namespace), total=0, ready=0, not_ready=[])
    not_ready = sorted(((p.get('metadata') or {}).get('name', '') for p in pods if not _ready_pod(p)))
    details = {'total': len(pods), 'ready': len(pods) - len(not_ready), 'not_ready': not_ready}
    if not_ready:
        return check('agents_ready', 'fail', '%d of %d agent pods not ready: %s' % (len(not_ready), len(pods), ', '.join(not_ready[:10])), **details)
    return check('agents_ready', 'pass', 'all %d agent pods ready' % len(pods), **details)


def _relay_check(deployment, error, namespace):
    if error:
        return check('relay_ready', 'unknown', 'could not read Deployment hubble-relay: %s' % error)
    if deployment is None:
        return check('relay_ready', 'unknown', 'Deployment hubble-relay not provided (offline mode)')
    if deployment is False:
        return check('relay_ready', 'fail', 'Deployment %s/hubble-relay not found (hubble.relay.enabled is false?)' % namespace)
    desired = (deployment.get('spec') or {}).get('replicas', 1)
    ready = (deployment.get('status') or {}).get('readyReplicas') or 0
    details = {'replicas': desired, 'ready': ready}
    if desired and ready >= desired:
        return check('relay_ready', 'pass', 'hubble-relay %d/%d ready' % (ready, desired), **details)
    return check('relay_ready', 'fail', 'hubble-relay %d/%d ready' % (ready, desired), **details)


# ---------------------------------------------------------------------------------------------- evaluate
def _flag(data, key, default):
    value = data.get(key)
    if value is None:
        return default, True
    return str(value).strip().lower() == 'true', False


def evaluate(configmap, version=None, clusterrole=None, clusterrole_error=None, relay=None, relay_error=None,
             pods=None, pods_error=None, namespace='kube-system', configmap_error=None, clusterrole_name='cilium'):
    """Return the list of checks.

    ``configmap``/``clusterrole``/``relay``: dict, ``False`` (does not exist) or ``None`` (not read);
    ``*_error``: message when reading failed; ``version``: ``'1.19.6'`` or None.
    """
    minor = _minor(version)
    checks = []
    if configmap_error or not isinstance(configmap, dict):
        why = configmap_error or ('ConfigMap not found in namespace %s: is Cilium installed there?' % namespace)
        status = 'unknown' if configmap_error else 'fail'
        for name in CHECK_NAMES[:9]:
            checks.append(check(name, status, why))
    else:
        checks.extend(_config_checks(configmap.get('data') or {}, minor))
    checks.append(_rbac_check(clusterrole, clusterrole_error, clusterrole_name))
    checks.append(_agents_check(pods, pods_error, namespace))
    checks.append(_relay_check(relay, relay_error, namespace))
    return checks


def _config_checks(data, minor):
    checks = []
    hubble, _absent = _flag(data, 'enable-hubble', False)
    checks.append(check('hubble_enabled', 'pass' if hubble else 'fail',
                        'enable-hubble is true' if hubble else
                        'enable-hubble is not true: the drop-event emitter is a Hubble hook and emits nothing (hubble.enabled=true)',
                        value=data.get('enable-hubble')))

    emitter, _absent = _flag(data, 'hubble-drop-events', False)
    if minor is not None and minor < 16:
        checks.append(check('drop_events_enabled', 'fail', 'Cilium 1.%d has no drop-event emitter (added in 1.16)' % minor,
                            value=data.get('hubble-drop-events')))
    elif emitter and not hubble:
        checks.append(check('drop_events_enabled', 'fail', 'hubble-drop-events is true but Hubble is disabled, so no events are emitted',
                            value=data.get('hubble-drop-events')))
    else:
        checks.append(check('drop_events_enabled', 'pass' if emitter else 'fail',
                            'hubble-drop-events is true' if emitter else
                            'hubble-drop-events is not true: set hubble.dropEventEmitter.enabled=true',
                            value=data.get('hubble-drop-events')))

    interval = data.get('hubble-drop-events-interval')
    effective = interval if interval is not None else DEFAULT_INTERVAL
    try:
        seconds = parse_go_duration(effective, 'hubble-drop-events-interval')
        checks.append(check('drop_events_interval', 'pass', 'interval %s%s: at most one event per pod per %s'
                            % (effective, ' (agent default)' if interval is None else '', effective),
                            interval=effective, seconds=seconds, default=interval is None))
    except InstallValuesError as exc:
        checks.append(check('drop_events_interval', 'fail', str(exc), interval=interval, seconds=None, default=False))

    checks.append(_reasons_check(data, minor, emitter))
    checks.extend(_v119_checks(data, minor))

    audit, _absent = _flag(data, 'policy-audit-mode', False)
    checks.append(check('policy_audit_mode', 'fail' if audit else 'pass',
                        'policy-audit-mode is true: policies only audit (verdict AUDIT), nothing is dropped and no PacketDrop event is emitted'
                        if audit else 'policy-audit-mode is off', value=data.get('policy-audit-mode')))
    for name, key, what in (('bpf_drop_events', 'bpf-events-drop-enabled', 'drop'),
                            ('bpf_policy_verdict_events', 'bpf-events-policy-verdict-enabled', 'policy-verdict')):
        enabled, absent = _flag(data, key, True)
        checks.append(check(name, 'pass' if enabled else 'fail',
                            '%s is %s' % (key, 'absent (default true)' if absent else 'true') if enabled else
                            '%s is false: the datapath sends no %s events to Hubble, so the emitter never sees drops' % (key, what),
                            value=data.get(key), default=absent))
    return checks


def _v119_checks(data, minor):
    ext_value = data.get('hubble-drop-events-extended')
    rate_value = data.get('hubble-drop-events-rate-limit')
    if minor is None:
        return [check('drop_events_extended', 'unknown', 'Cilium version not detected; hubble-drop-events-extended exists from 1.19',
                      value=ext_value, applicable=None),
                check('drop_events_rate_limit', 'unknown', 'Cilium version not detected; hubble-drop-events-rate-limit exists from 1.19',
                      value=rate_value, applicable=None)]
    if minor < 19:
        return [check('drop_events_extended', 'pass', 'not applicable: Cilium 1.%d has no hubble-drop-events-extended' % minor,
                      value=ext_value, applicable=False),
                check('drop_events_rate_limit', 'pass', 'not applicable: Cilium 1.%d has no hubble-drop-events-rate-limit' % minor,
                      value=rate_value, applicable=False)]
    extended = str(ext_value).strip().lower() == 'true' if ext_value is not None else False
    checks = [check('drop_events_extended', 'pass',
                    'extended messages on: events name the policies' if extended else
                    'extended messages off: events do not name policies (extraConfig hubble-drop-events-extended: "true")',
                    value=ext_value, applicable=True, enabled=extended)]
    effective = rate_value if rate_value is not None else '1'
    try:
        limit = int(str(effective).strip())
    except ValueError:
        limit = None
    if limit is None or limit < 0:
        checks.append(check('drop_events_rate_limit', 'fail', 'hubble-drop-events-rate-limit %r is not a non-negative integer' % rate_value,
                            value=rate_value, applicable=True, limit=None))
    elif limit == 0:
        checks.append(check('drop_events_rate_limit', 'pass', 'hubble-drop-events-rate-limit is 0 (no limit)',
                            value=rate_value, applicable=True, limit=0))
    else:
        warning = ('hubble-drop-events-rate-limit is %d%s: every decoded flow (also forwarded ones) consumes a token, so busy nodes '
                   'skip drop events; set extraConfig hubble-drop-events-rate-limit: "0"' % (limit, ' (default)' if rate_value is None else ''))
        checks.append(check('drop_events_rate_limit', 'pass', 'warning: ' + warning, value=rate_value, applicable=True, limit=limit,
                            warning=warning))
    return checks


def summarise(checks, required=None):
    """Counts per status, failed names and required checks that did not pass."""
    summary = {'pass': 0, 'fail': 0, 'unknown': 0}
    for item in checks:
        summary[item['status']] = summary.get(item['status'], 0) + 1
    names = [c['name'] for c in checks]
    required = list(required or [])
    return {
        'summary': summary,
        'failed_checks': [c['name'] for c in checks if c['status'] == 'fail'],
        'required_failed': [c['name'] for c in checks if c['name'] in required and c['status'] != 'pass'],
        'unknown_required': [name for name in required if name not in names],
        'warnings': [c['details']['warning'] for c in checks if c['details'].get('warning')],
    }


# ---------------------------------------------------------------------------------------------- sources
def load_objects(path):
    """Objects from a saved YAML/JSON file (single object, List, or multi-document YAML)."""
    return flatten_lists(load_documents(path, CiliumConfigError, sniff=True))


def pick(objects, kind, name=None):
    """Objects of ``kind`` (and ``name`` when given)."""
    return [o for o in objects if o.get('kind') == kind and (name is None or (o.get('metadata') or {}).get('name') == name)]


def gather_offline(src, configmap_name, clusterrole_src=None, clusterrole_name='cilium'):
    """Inputs for ``evaluate`` from saved files; raises ``CiliumConfigError``."""
    objects = load_objects(src)
    configmaps = pick(objects, 'ConfigMap', configmap_name) or pick(objects, 'ConfigMap')
    if not configmaps:
        if objects and all('kind' not in o for o in objects) and isinstance(objects[0], dict):
            configmaps = [{'kind': 'ConfigMap', 'metadata': {'name': configmap_name}, 'data': objects[0]}]
        else:
            raise CiliumConfigError('%s holds no ConfigMap (expected the output of kubectl get configmap %s -o yaml)' % (src, configmap_name))
    if clusterrole_src:
        objects = objects + load_objects(clusterrole_src)
    roles = pick(objects, 'ClusterRole', clusterrole_name) or (pick(objects, 'ClusterRole') if clusterrole_src else [])
    relays = pick(objects, 'Deployment', 'hubble-relay')
    pods = [p for p in pick(objects, 'Pod') if ((p.get('metadata') or {}).get('labels') or {}).get('k8s-app') == 'cilium']
    return {
        'configmap': configmaps[0],
        'clusterrole': roles[0] if roles else None,
        'relay': relays[0] if relays else None,
        'pods': pods or None,
    }


def _fatal(exc):
    """401 (credentials rejected) and 0 (API server unreachable) say nothing about one object: the whole run failed."""
    return getattr(exc, 'status', None) in (0, 401)


def gather_live(api, namespace, configmap_name, clusterrole_name='cilium', error_class=Exception):
    """Inputs for ``evaluate`` read through a ``KubeAPI``; per-object errors (403, ...) are recorded, not raised.

    Authentication failures (HTTP 401) and an unreachable API server are raised: no check can pass or fail then.
    """
    result = {'configmap': None, 'configmap_error': None, 'clusterrole': None, 'clusterrole_error': None,
              'relay': None, 'relay_error': None, 'pods': None, 'pods_error': None}
    reads = (
        ('configmap', '/api/v1/namespaces/%s/configmaps/%s' % (namespace, configmap_name)),
        ('clusterrole', '/apis/rbac.authorization.k8s.io/v1/clusterroles/%s' % clusterrole_name),
        ('relay', '/apis/apps/v1/namespaces/%s/deployments/hubble-relay' % namespace),
    )
    for key, path in reads:
        try:
            result[key] = api.get(path)
        except error_class as exc:  # pylint: disable=broad-exception-caught
            if _fatal(exc):
                raise
            if getattr(exc, 'status', None) == 404:
                result[key] = False
            else:
                result[key + '_error'] = str(exc)
    try:
        pods = []
        for page in api.list_pages('/api/v1/namespaces/%s/pods' % namespace, params={'labelSelector': AGENT_SELECTOR}):
            pods.extend(page.get('items') or [])
        result['pods'] = pods
    except error_class as exc:  # pylint: disable=broad-exception-caught
        if _fatal(exc):
            raise
        result['pods_error'] = str(exc)
    return result


RELEVANT_KEYS = (
    'enable-hubble', 'hubble-drop-events', 'hubble-drop-events-interval', 'hubble-drop-events-reasons',
    'hubble-drop-events-extended', 'hubble-drop-events-rate-limit', 'policy-audit-mode', 'bpf-events-drop-enabled',
    'bpf-events-policy-verdict-enabled', 'bpf-events-trace-enabled', 'debug', 'debug-verbose', 'cluster-name',
)


def relevant_config(configmap):
    """The ConfigMap keys the checks look at (absent keys omitted)."""
    data = (configmap or {}).get('data') or {} if isinstance(configmap, dict) else {}
    return {key: data[key] for key in RELEVANT_KEYS if key in data}
