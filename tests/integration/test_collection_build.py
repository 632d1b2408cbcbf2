# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The built artifact installs offline and every module's documentation renders from the installed copy."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
KCORE = os.path.join(ROOT, '.cache', 'collections', 'ansible_collections', 'kubernetes', 'core')

pytestmark = pytest.mark.integration


def modules() -> list[str]:
    return sorted(os.path.splitext(os.path.basename(path))[0]
                  for path in glob.glob(os.path.join(ROOT, 'plugins', 'modules', '*.py')) if not path.endswith('__init__.py'))


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    if not os.path.isdir(KCORE):
        pytest.fail(f'kubernetes.core is not installed at {KCORE}: run `make deps`')
    work = tmp_path_factory.mktemp('artifact')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(work / 'collections'), ANSIBLE_NOCOLOR='1')
    subprocess.run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', str(work), ROOT],
                   check=True, capture_output=True, env=env)
    tarballs = glob.glob(str(work / 'netobs-cilium-*.tar.gz'))
    assert len(tarballs) == 1, tarballs
    # The dependency is already present in the install path, so the offline install resolves it without a server.
    shutil.copytree(KCORE, work / 'collections' / 'ansible_collections' / 'kubernetes' / 'core')
    result = subprocess.run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '--offline',
                             '-p', str(work / 'collections'), tarballs[0]], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return tarballs[0], work / 'collections', env


def test_artifact_leaves_development_files_out(installed):
    tarball = installed[0]
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert 'galaxy.yml' not in names and 'MANIFEST.json' in names
    for forbidden in ('tests/', 'scripts/', 'molecule/', '.venv/', '.cache/', '.ci/', 'Makefile', 'requirements-dev.txt'):
        assert not any(name == forbidden.rstrip('/') or name.startswith(forbidden) for name in names), forbidden


def test_installed_copy_is_the_collection(installed):
    collections = installed[1]
    root = collections / 'ansible_collections' / 'netobs' / 'cilium'
    assert (root / 'MANIFEST.json').is_file()
    assert (root / 'meta' / 'runtime.yml').is_file()


def test_every_module_documentation_renders_from_the_installed_copy(installed):
    env = installed[2]
    names = modules()
    with open(os.path.join(ROOT, 'meta', 'runtime.yml'), encoding='utf-8') as handle:
        grouped = [entry for entry in yaml.safe_load(handle)['action_groups']['cilium'] if isinstance(entry, str)]
    # Every module is in the action group (module_defaults reach it) and every group member exists.
    assert names and sorted(grouped) == names
    fqcns = [f'netobs.cilium.{name}' for name in names]
    result = subprocess.run([os.path.join(BIN, 'ansible-doc'), '-t', 'module', *fqcns], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    for fqcn in fqcns:
        assert f'> MODULE {fqcn}' in result.stdout, f'{fqcn} did not render:\n{result.stderr}'
    assert 'EXAMPLES:' in result.stdout and 'RETURN VALUES:' in result.stdout
