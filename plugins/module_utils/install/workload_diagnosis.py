# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Explain why Cilium workloads are not ready, from objects read with kubernetes.core.k8s_info.

``diagnose(pods, events, workloads, expected)`` turns raw DaemonSet/Deployment/Pod/Event dicts
into one readable message: per workload its ready count, then each pod that is not ready with
its phase, failing conditions, waiting/terminated containers and its last events. Pure function,
used by the ``netobs.cilium.install_diagnosis`` filter in the install role's readiness gates.
"""

from __future__ import annotations

MAX_EVENTS_PER_OBJECT = 3
MAX_PODS_PER_WORKLOAD = 5
_MESSAGE_LIMIT = 240


def _short(text, limit=_MESSAGE_LIMIT):
    text = ' '.join(str(text or '').split())
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _meta(obj):
    return obj.get('metadata') or {}


def _ref(obj):
    meta = _meta(obj)
    return '%s/%s' % (meta.get('namespace', ''), meta.get('name', '')) if meta.get('namespace') else meta.get('name', '')


def workload_ready(obj):
    """(ready, desired, is_ready) for a DaemonSet or Deployment dict."""
    status = obj.get('status') or {}
    if obj.get('kind') == 'DaemonSet':
        desired = status.get('desiredNumberScheduled') or 0
        ready = status.get('numberReady') or 0
        updated = status.get('updatedNumberScheduled') or 0
        return ready, desired, desired > 0 and ready == desired and updated == desired and not status.get('numberUnavailable')
    desired = (obj.get('spec') or {}).get('replicas', 1)
    ready = status.get('readyReplicas') or 0
    return ready, desired, desired > 0 and ready >= desired and not status.get('unavailableReplicas')


def pod_ready(pod):
    """True when the pod's Ready condition is True."""
    for cond in (pod.get('status') or {}).get('conditions') or []:
        if cond.get('type') == 'Ready':
            return cond.get('status') == 'True'
    return False


def _selector_matches(workload, pod):
    selector = ((workload.get('spec') or {}).get('selector') or {}).get('matchLabels') or {}
    labels = _meta(pod).get('labels') or {}
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items()) and \
        _meta(pod).get('namespace') == _meta(workload).get('namespace')


def _event_time(event):
    return event.get('lastTimestamp') or event.get('eventTime') or event.get('firstTimestamp') or \
        (event.get('series') or {}).get('lastObservedTime') or ''


def _events_for(events, kind, namespace, name):
    selected = []
    for event in events:
        obj = event.get('involvedObject') or event.get('regarding') or {}
        if obj.get('kind') == kind and obj.get('name') == name and (obj.get('namespace') or namespace) == namespace:
            selected.append(event)
    selected.sort(key=_event_time)
    out = []
    for event in selected[-MAX_EVENTS_PER_OBJECT:]:
        count = event.get('count') or event.get('deprecatedCount') or 1
        text = '%s %s: %s' % (event.get('type', ''), event.get('reason', ''), _short(event.get('message') or event.get('note'), 160))
        out.append(text + (' (x%d)' % count if count > 1 else ''))
    return out


def _container_problems(status):
    problems = []
    for key in ('initContainerStatuses', 'containerStatuses'):
        for cstat in status.get(key) or []:
            if cstat.get('ready'):
                continue
            state = cstat.get('state') or {}
            if 'waiting' in state:
                waiting = state['waiting'] or {}
                text = 'container %s waiting: %s' % (cstat.get('name'), waiting.get('reason', 'unknown'))
                if waiting.get('message'):
                    text += ' (%s)' % _short(waiting['message'], 160)
            elif 'terminated' in state:
                term = state['terminated'] or {}
                if key == 'initContainerStatuses' and term.get('exitCode') == 0:
                    continue
                text = 'container %s terminated: %s exit %s' % (cstat.get('name'), term.get('reason', ''), term.get('exitCode'))
            else:
                text = 'container %s running but not ready' % cstat.get('name')
            if cstat.get('restartCount'):
                text += ', %d restarts' % cstat['restartCount']
            problems.append(text)
    return problems


def describe_pod(pod, events):
    """One line for a pod that is not ready."""
    status = pod.get('status') or {}
    meta = _meta(pod)
    parts = ['phase %s' % status.get('phase', 'Unknown')]
    if status.get('reason'):
        parts.append(status['reason'])
    for cond in status.get('conditions') or []:
        if cond.get('status') != 'True' and cond.get('type') != 'Ready' and (cond.get('reason') or cond.get('message')):
            parts.append(('%s=False %s %s' % (cond.get('type'), cond.get('reason', ''), _short(cond.get('message'), 160))).strip())
    if status.get('nodeName') or (pod.get('spec') or {}).get('nodeName'):
        parts.append('node %s' % (status.get('nodeName') or pod['spec']['nodeName']))
    parts.extend(_container_problems(status))
    last = _events_for(events, 'Pod', meta.get('namespace'), meta.get('name'))
    text = 'pod %s not ready (%s)' % (_ref(pod), '; '.join(parts))
    if last:
        text += ', last events: ' + ' | '.join(last)
    else:
        text += ', no events'
    return text


def diagnose(pods, events, workloads, expected=None):
    """Readable diagnosis for workloads (DaemonSet/Deployment dicts) and their pods/events.

    ``expected``: ``["DaemonSet/cilium", ...]``; entries absent from ``workloads`` are reported as missing.
    """
    pods = [p for p in pods or [] if isinstance(p, dict)]
    events = [e for e in events or [] if isinstance(e, dict)]
    workloads = [w for w in workloads or [] if isinstance(w, dict)]
    if expected:
        # report only the expected workloads (the caller may pass every Deployment of the namespace)
        workloads = [w for w in workloads if '%s/%s' % (w.get('kind'), _meta(w).get('name')) in expected]
    lines = []
    found = {'%s/%s' % (w.get('kind'), _meta(w).get('name')) for w in workloads}
    for name in expected or []:
        if name not in found:
            lines.append('%s not found (is the Helm release installed in this namespace?)' % name)
    for workload in workloads:
        ready, desired, ok = workload_ready(workload)
        head = '%s %s: %s/%s ready' % (workload.get('kind'), _ref(workload), ready, desired)
        own = [p for p in pods if _selector_matches(workload, p)]
        bad = [p for p in own if not pod_ready(p)]
        details = [describe_pod(p, events) for p in bad[:MAX_PODS_PER_WORKLOAD]]
        if len(bad) > MAX_PODS_PER_WORKLOAD:
            details.append('%d more pods not ready' % (len(bad) - MAX_PODS_PER_WORKLOAD))
        if not own:
            details.append('no pods')
        wl_events = _events_for(events, workload.get('kind'), _meta(workload).get('namespace'), _meta(workload).get('name'))
        if wl_events and (not ok or not own):
            details.append('workload events: ' + ' | '.join(wl_events))
        if ok and not bad:
            lines.append(head)
        else:
            lines.append(head + ' - ' + '; '.join(details))
    if not workloads:
        # nothing to attribute pods to: report every pod that is not ready
        lines.extend(describe_pod(pod, events) for pod in pods if not pod_ready(pod))
    return '. '.join(lines) + ('.' if lines else 'no workloads found.')
