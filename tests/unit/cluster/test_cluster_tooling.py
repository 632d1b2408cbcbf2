# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parts of tests/cluster/cluster.py (make cluster) that run without root or a cluster."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile

import jsonschema
import pytest
import yaml
from script_files import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CHART_FIXTURES = os.path.join(ROOT, 'tests', 'fixtures', 'cilium-chart')


@pytest.fixture(scope='module')
def cluster():
    return load_file('netobs_cluster', 'tests', 'cluster', 'cluster.py')


def test_versions_come_from_the_wrapper_modules(cluster):
    versions = cluster.versions()
    assert versions['kubernetes'].startswith('v1.34.')
    assert versions['cilium'].startswith('v1.19.')
    # the cilium line must be one the install role supports and whose chart the tests carry
    assert os.path.isdir(os.path.join(CHART_FIXTURES, versions['cilium'].lstrip('v')))
    with open(os.path.join(ROOT, 'tests', 'cluster', 'kubernetes', 'go.mod'), encoding='utf-8') as handle:
        gomod = handle.read()
    # every staging module is replaced by the published module of the same release
    minor = versions['kubernetes'].lstrip('v').split('.', 1)[1]
    assert 'k8s.io/client-go => k8s.io/client-go v0.%s' % minor in gomod


def test_cilium_values_are_the_install_role_values_plus_local_overrides(cluster):
    lay = cluster.Layout()
    values = cluster.cilium_values(lay, '192.0.2.2')
    version = lay.versions['cilium'].lstrip('v')
    with open(os.path.join(CHART_FIXTURES, version, 'values.schema.json'), encoding='utf-8') as handle:
        jsonschema.validate(values, json.load(handle))
    with open(os.path.join(CHART_FIXTURES, version, 'values.yaml'), encoding='utf-8') as handle:
        defaults = yaml.safe_load(handle)
    for key in values:
        assert key in defaults, '%s is not a value of chart %s' % (key, version)
    # cgroup v1 host: no socket LB, kube-proxy stays, no Envoy/L7
    assert values['kubeProxyReplacement'] == 'false'
    assert values['socketLB'] == {'enabled': False}
    assert values['envoy']['enabled'] is False and values['l7Proxy'] is False
    assert values['k8sServiceHost'] == '192.0.2.2' and values['k8sServicePort'] == '6443'
    # what the install role adds must survive the merge: the emitter and the kind profile
    assert values['hubble']['dropEventEmitter']['enabled'] is True
    assert values['ipam']['mode'] == 'kubernetes'
    assert values['image']['useDigest'] is False


@pytest.mark.parametrize('script', [
    # what molecule/local/create.yml runs before helm install: the values come from the collection's module_utils
    "import sys; sys.path.insert(0, %r); import cluster; print(cluster.cilium_values(cluster.Layout(), '192.0.2.2')"
    "['k8sServiceHost'])" % os.path.join(ROOT, 'tests', 'cluster'),
    # the docs generator, run by hand
    "import runpy, sys; sys.argv = ['render_install_values.py', '--check']; "
    "runpy.run_path(%r, run_name='__main__')" % os.path.join(ROOT, 'scripts', 'render_install_values.py'),
], ids=['cluster-values', 'render-install-values'])
def test_scripts_import_the_module_utils_from_a_bare_python_anywhere(script, tmp_path):
    """A fresh clone has no installed collection and no PYTHONPATH: CI's molecule create failed on exactly this."""
    env = {'PATH': os.environ.get('PATH', '/usr/bin:/bin'), 'HOME': str(tmp_path / 'home'),
           'NETOBS_CLUSTER_CACHE': str(tmp_path / 'cluster-cache')}
    # -I: no PYTHONPATH, no user site, not the current directory; the cwd is outside the checkout
    proc = subprocess.run([sys.executable, '-I', '-c', script], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'Traceback' not in proc.stderr
    if 'cluster' in script:
        assert proc.stdout.strip() == '192.0.2.2'
        link = tmp_path / 'cluster-cache' / 'python-path' / 'ansible_collections' / 'netobs' / 'cilium'
        assert link.is_symlink() and os.path.realpath(link) == os.path.realpath(ROOT)
    assert not os.path.exists(os.path.join(ROOT, 'ansible_collections')), 'the import link must live outside the repo'


def test_docker_archive_names_the_image_and_matches_its_layer(cluster, tmp_path):
    root = tmp_path / 'root'
    (root / 'usr' / 'bin').mkdir(parents=True)
    (root / 'usr' / 'bin' / 'tool').write_text('#!/bin/sh\n')
    out = tmp_path / 'image.tar'
    cluster._docker_archive(root, 'quay.io/cilium/cilium:v1.19.6', {'Cmd': ['/usr/bin/tool']}, out, tmp_path / 'log')
    with tarfile.open(out) as archive:
        manifest = json.load(archive.extractfile('manifest.json'))
        assert manifest[0]['RepoTags'] == ['quay.io/cilium/cilium:v1.19.6']
        config = json.load(archive.extractfile(manifest[0]['Config']))
        layer = archive.extractfile(manifest[0]['Layers'][0]).read()
    assert config['rootfs']['diff_ids'] == ['sha256:' + hashlib.sha256(layer).hexdigest()]
    assert config['config']['Cmd'] == ['/usr/bin/tool']
    with tarfile.open(fileobj=__import__('io').BytesIO(layer)) as inner:
        assert './usr/bin/tool' in inner.getnames()


def test_coredns_answers_only_for_the_cluster(cluster):
    manifest = cluster.coredns_manifest('localhost/netobs-cluster/coredns:v1.12.4')
    corefile = [i for i in manifest['items'] if i['kind'] == 'ConfigMap'][0]['data']['Corefile']
    assert 'kubernetes cluster.local' in corefile
    assert 'forward' not in corefile          # no query may leave the machine
    service = [i for i in manifest['items'] if i['kind'] == 'Service'][0]
    assert service['spec']['clusterIP'] == cluster.DNS_SERVICE_IP


def test_image_names_match_what_the_chart_renders(cluster):
    lay = cluster.Layout()
    names = cluster.image_names(lay)
    version = lay.versions['cilium']
    assert names['cilium'] == 'quay.io/cilium/cilium:%s' % version
    assert names['operator'] == 'quay.io/cilium/operator-generic:%s' % version
    assert names['relay'] == 'quay.io/cilium/hubble-relay:%s' % version
