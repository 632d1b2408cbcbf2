# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the reference experiment on the cluster of ``make cluster`` and save what it leaves behind.

The saved files are the capture that ``make demo`` replays (``examples/reference-experiment/``): the
PacketDrop Events, the Hubble flows of the experiment's namespace (through Hubble Relay), the objects the
attribution needs (namespaces, pods, policies), the probe results, and a PROVENANCE.md that says when, on
what and with which commands. Nothing is edited by hand afterwards.

    python3 tests/cluster/capture_reference.py --out examples/reference-experiment

The experiment: namespace ``cni-test``; Deployment ``nginx`` (``app=nginx``); NetworkPolicy ``deny-egress``
that lets ``run=netshot`` pods reach only DNS; pod ``netshot`` (isolated) and pod ``netshot-control`` (not
selected by any policy). ``netshot`` curls nginx (must time out), resolves a name (must work); the control
curls nginx (must get HTTP 200). Root and a running ``make cluster`` are required; only the cluster's own
addresses are contacted.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NAMESPACE = 'cni-test'


def load_cluster():
    spec = importlib.util.spec_from_file_location('netobs_cluster', os.path.join(HERE, 'cluster.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Kubectl:
    """kubectl of the pinned version with the cluster's kubeconfig; every call is an argv list."""

    def __init__(self, lay) -> None:
        self.argv = [str(lay.bin / 'kubectl'), '--kubeconfig', str(lay.kubeconfig)]
        self.log: list[str] = []

    def run(self, *args: str, stdin: str | None = None, check: bool = True, record: bool = True) -> subprocess.CompletedProcess:
        if record:
            self.log.append('kubectl ' + ' '.join(args))
        proc = subprocess.run(self.argv + list(args), input=stdin, capture_output=True, text=True, check=False, timeout=300)
        if check and proc.returncode != 0:
            raise SystemExit('error: kubectl %s failed (exit %d): %s' % (' '.join(args), proc.returncode, proc.stderr.strip()))
        return proc

    def json(self, *args: str) -> dict:
        return json.loads(self.run(*args, '-o', 'json').stdout)


def manifests(images: dict[str, str]) -> list[dict]:
    nginx_labels = {'app': 'nginx'}

    def pod(name: str, labels: dict[str, str]) -> dict:
        return {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': name, 'namespace': NAMESPACE, 'labels': labels},
                'spec': {'terminationGracePeriodSeconds': 1,
                         'containers': [{'name': 'netshoot', 'image': images['netshoot'], 'imagePullPolicy': 'Never',
                                         'command': ['sleep', 'infinity']}]}}

    return [
        {'apiVersion': 'v1', 'kind': 'Namespace', 'metadata': {'name': NAMESPACE}},
        {'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {'name': 'nginx', 'namespace': NAMESPACE, 'labels': nginx_labels},
         'spec': {'replicas': 1, 'selector': {'matchLabels': nginx_labels},
                  'template': {'metadata': {'labels': nginx_labels},
                               'spec': {'terminationGracePeriodSeconds': 1,
                                        'containers': [{'name': 'nginx', 'image': images['nginx'], 'imagePullPolicy': 'Never',
                                                        'ports': [{'name': 'http', 'containerPort': 80}]}]}}}},
        {'apiVersion': 'networking.k8s.io/v1', 'kind': 'NetworkPolicy', 'metadata': {'name': 'deny-egress', 'namespace': NAMESPACE},
         'spec': {'podSelector': {'matchLabels': {'run': 'netshot'}}, 'policyTypes': ['Egress'],
                  'egress': [{'to': [{'namespaceSelector': {'matchLabels': {'kubernetes.io/metadata.name': 'kube-system'}},
                                      'podSelector': {'matchLabels': {'k8s-app': 'kube-dns'}}}],
                              'ports': [{'protocol': 'UDP', 'port': 53}, {'protocol': 'TCP', 'port': 53}]}]}},
        pod('netshot', {'run': 'netshot'}),
        pod('netshot-control', {'run': 'netshot-control'}),
    ]


def strip(obj: dict) -> dict:
    """Drop server-side noise that says nothing about policy (managedFields, last-applied annotation)."""
    meta = obj.get('metadata', {})
    meta.pop('managedFields', None)
    (meta.get('annotations') or {}).pop('kubectl.kubernetes.io/last-applied-configuration', None)
    if meta.get('annotations') == {}:
        meta.pop('annotations')
    return obj


def as_list(items: list[dict]) -> dict:
    return {'apiVersion': 'v1', 'kind': 'List', 'items': [strip(i) for i in items]}


def probe(kc: Kubectl, name: str, pod: str, argv: list[str], to: str, port: int, protocol: str, want_rc: int) -> dict:
    proc = kc.run('-n', NAMESPACE, 'exec', pod, '--', *argv, check=False)
    detail = (proc.stdout.strip() or proc.stderr.strip()).splitlines()
    outcome = 'allowed' if proc.returncode == 0 else 'denied'
    if proc.returncode != want_rc:
        raise SystemExit('error: probe %s exited %d, expected %d: %s' % (name, proc.returncode, want_rc, detail))
    return {'name': name, 'from': '%s/%s' % (NAMESPACE, pod), 'to': to, 'port': port, 'protocol': protocol,
            'outcome': outcome, 'detail': detail[0] if detail else 'exit %d' % proc.returncode}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--out', required=True, help='directory for the capture files')
    parser.add_argument('--attempts', type=int, default=3, help='denied curl attempts (each one SYN retried by the kernel)')
    args = parser.parse_args(argv)
    cluster = load_cluster()
    lay = cluster.Layout()
    if not cluster.cluster_is_up(lay):
        print('error: the cluster is not up: run make cluster first', file=sys.stderr)
        return 2
    kc = Kubectl(lay)
    images = cluster.image_names(lay)
    os.makedirs(args.out, exist_ok=True)

    kc.run('delete', 'namespace', NAMESPACE, '--ignore-not-found', '--wait=true', '--timeout=120s')
    kc.run('apply', '-f', '-', stdin=json.dumps(as_list(manifests(images))))
    kc.run('-n', NAMESPACE, 'rollout', 'status', 'deployment/nginx', '--timeout=180s')
    kc.run('-n', NAMESPACE, 'wait', '--for=condition=Ready', 'pod/netshot', 'pod/netshot-control', '--timeout=180s')
    nginx_ip = kc.run('-n', NAMESPACE, 'get', 'pods', '-l', 'app=nginx', '-o', 'jsonpath={.items[0].status.podIP}').stdout.strip()
    started = datetime.datetime.now(datetime.timezone.utc)

    probes = [probe(kc, 'netshot-resolves-names', 'netshot', ['dig', '+short', '+time=3', '+tries=1',
                                                              'kube-dns.kube-system.svc.cluster.local'],
                    'kube-system/coredns', 53, 'UDP', 0)]
    for attempt in range(args.attempts):
        result = probe(kc, 'netshot-to-nginx', 'netshot', ['curl', '-sS', '--max-time', '5', 'http://%s:80/' % nginx_ip],
                       nginx_ip, 80, 'TCP', 28)
        if attempt == 0:
            probes.append(result)
    control = probe(kc, 'control-to-nginx', 'netshot-control',
                    ['curl', '-sS', '-o', '/dev/null', '-w', 'HTTP %{http_code}', '--max-time', '5', 'http://%s:80/' % nginx_ip],
                    nginx_ip, 80, 'TCP', 0)
    probes.append(control)
    # The drop-event emitter reports at most once per interval (5s here): let the last interval close.
    time.sleep(12)

    relay_ip = kc.run('-n', 'kube-system', 'get', 'service', 'hubble-relay', '-o', 'jsonpath={.spec.clusterIP}').stdout.strip()
    files = {}
    events = kc.json('get', 'events', '-n', NAMESPACE, '--field-selector', 'reason=PacketDrop')
    files['events.json'] = json.dumps(events, indent=2) + '\n'
    flows = kc.run('-n', 'kube-system', 'exec', 'ds/cilium', '-c', 'cilium-agent', '--', 'hubble', 'observe',
                   '--server', '%s:80' % relay_ip, '--namespace', NAMESPACE, '--since', started.strftime('%Y-%m-%dT%H:%M:%SZ'),
                   '--last', '1000', '-o', 'jsonpb').stdout
    files['flows.jsonl'] = flows
    namespaces = [kc.json('get', 'namespace', name) for name in (NAMESPACE, 'kube-system')]
    files['namespaces.yaml'] = json.dumps(as_list(namespaces), indent=2) + '\n'
    pods = kc.json('-n', NAMESPACE, 'get', 'pods')['items'] + kc.json('-n', 'kube-system', 'get', 'pods', '-l', 'k8s-app=kube-dns')['items']
    files['pods.yaml'] = json.dumps(as_list(pods), indent=2) + '\n'
    policies = kc.json('-n', NAMESPACE, 'get', 'networkpolicies')['items']
    files['policies.yaml'] = json.dumps(as_list(policies), indent=2) + '\n'
    files['probes.json'] = json.dumps({'probes': probes}, indent=2) + '\n'
    for name, text in files.items():
        with open(os.path.join(args.out, name), 'w', encoding='utf-8') as handle:
            handle.write(text)

    versions = ', '.join('%s %s' % (k, v) for k, v in sorted(lay.versions.items()))
    commands = '\n'.join('    ' + line for line in kc.log)
    with open(os.path.join(args.out, 'PROVENANCE.md'), 'w', encoding='utf-8') as handle:
        handle.write(PROVENANCE % {'date': started.strftime('%Y-%m-%d %H:%M UTC'), 'versions': versions, 'commands': commands,
                                   'flows': flows.count('\n'), 'events': len(events.get('items', []))})
    kc.run('delete', 'namespace', NAMESPACE, '--wait=false')
    print('captured %d PacketDrop Event(s) and %d flow line(s) into %s' % (len(events.get('items', [])), flows.count('\n'), args.out))
    return 0


PROVENANCE = '''# Provenance of this capture

Captured on %(date)s by `python3 tests/cluster/capture_reference.py --out <this directory>` on the real
single-node cluster of `make cluster` (%(versions)s), Cilium installed by Helm with the install role's values
(`install_profile: kind`) plus `tests/cluster/cilium-values-local.json`. Nothing was edited by hand.

%(events)d PacketDrop Event(s) in `events.json`, %(flows)d flow line(s) in `flows.jsonl` (Hubble Relay, namespace
`cni-test`, since the first probe). JSON is valid YAML, so the snapshot files are the JSON that kubectl printed
(`managedFields` and the last-applied annotation removed).

The commands, in order (kubectl 1.34 with the cluster's kubeconfig):

%(commands)s
'''

if __name__ == '__main__':
    sys.exit(main())
