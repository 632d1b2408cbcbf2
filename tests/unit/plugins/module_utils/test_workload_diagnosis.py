# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The readiness-gate diagnosis names the pods that are not ready and why."""

from __future__ import annotations

from ansible_collections.netobs.cilium.plugins.module_utils.install.workload_diagnosis import diagnose


def daemonset(ready, desired):
    return {'kind': 'DaemonSet', 'metadata': {'name': 'cilium', 'namespace': 'kube-system'},
            'spec': {'selector': {'matchLabels': {'k8s-app': 'cilium'}}},
            'status': {'desiredNumberScheduled': desired, 'numberReady': ready, 'updatedNumberScheduled': desired}}


def deployment(name, labels, ready, replicas):
    return {'kind': 'Deployment', 'metadata': {'name': name, 'namespace': 'kube-system'},
            'spec': {'replicas': replicas, 'selector': {'matchLabels': labels}}, 'status': {'readyReplicas': ready}}


def pod(name, labels, ready, **status):
    body = {'phase': 'Running' if ready else 'Pending',
            'conditions': [{'type': 'Ready', 'status': 'True' if ready else 'False'}]}
    body.update(status)
    return {'metadata': {'name': name, 'namespace': 'kube-system', 'labels': labels}, 'status': body}


def event(name, reason, message, ts, kind='Pod', count=1):
    return {'involvedObject': {'kind': kind, 'name': name, 'namespace': 'kube-system'}, 'type': 'Warning', 'reason': reason,
            'message': message, 'lastTimestamp': ts, 'count': count}


def test_not_ready_pods_with_reasons_and_last_events():
    pods = [
        pod('cilium-abc', {'k8s-app': 'cilium'}, False, containerStatuses=[
            {'name': 'cilium-agent', 'ready': False, 'restartCount': 4,
             'state': {'waiting': {'reason': 'CrashLoopBackOff', 'message': 'back-off 40s restarting'}}}]),
        pod('cilium-def', {'k8s-app': 'cilium'}, True),
        pod('cilium-operator-1', {'io.cilium/app': 'operator'}, False, conditions=[
            {'type': 'PodScheduled', 'status': 'False', 'reason': 'Unschedulable',
             'message': "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules."},
            {'type': 'Ready', 'status': 'False'}]),
        pod('coredns-1', {'k8s-app': 'kube-dns'}, False),
    ]
    events = [event('cilium-abc', 'BackOff', 'Back-off restarting failed container', '2026-01-01T00:00:05Z', count=7),
              event('cilium-abc', 'Pulled', 'pulled', '2026-01-01T00:00:01Z'),
              event('cilium-operator-1', 'FailedScheduling', "0/1 nodes are available: didn't match pod anti-affinity", '2026-01-01T00:00:03Z')]
    text = diagnose(pods, events, [daemonset(1, 2), deployment('cilium-operator', {'io.cilium/app': 'operator'}, 1, 2),
                                   deployment('coredns', {'k8s-app': 'kube-dns'}, 0, 2)],
                    ['DaemonSet/cilium', 'Deployment/cilium-operator', 'Deployment/hubble-relay'])
    assert 'Deployment/hubble-relay not found' in text
    assert 'DaemonSet kube-system/cilium: 1/2 ready' in text
    assert 'pod kube-system/cilium-abc not ready' in text
    assert 'container cilium-agent waiting: CrashLoopBackOff (back-off 40s restarting), 4 restarts' in text
    assert text.index('Warning Pulled') < text.index('Warning BackOff') and '(x7)' in text
    assert 'PodScheduled=False Unschedulable' in text and 'FailedScheduling' in text
    assert 'cilium-def' not in text and 'coredns' not in text
    assert '\n' not in text


def test_ready_workloads_are_summarised():
    text = diagnose([pod('cilium-a', {'k8s-app': 'cilium'}, True)], [], [daemonset(1, 1)], ['DaemonSet/cilium'])
    assert text == 'DaemonSet kube-system/cilium: 1/1 ready.'


def test_workload_without_pods_shows_its_events():
    events = [event('cilium', 'FailedCreate', 'pods "cilium-" is forbidden: violates PodSecurity', '2026-01-01T00:00:00Z', kind='DaemonSet')]
    text = diagnose([], events, [daemonset(0, 1)], ['DaemonSet/cilium'])
    assert 'no pods' in text and 'FailedCreate' in text


def test_nothing_at_all():
    assert diagnose([], [], [], ['DaemonSet/cilium']).startswith('DaemonSet/cilium not found')
