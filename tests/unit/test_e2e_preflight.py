# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""scripts/e2e_preflight.py: what `make e2e` says before it starts.

PATH is simulated (an empty directory, or one with fake tools) so the results do
not depend on what this machine has installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from script_files import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, 'scripts', 'e2e_preflight.py')

pytestmark = pytest.mark.integration  # starts the script and fake tools as subprocesses


def load_script():
    return load_file('e2e_preflight', 'scripts', 'e2e_preflight.py')


def fake_tool(directory, name, body='echo "%s fake 1.0"\nexit 0\n'):
    path = os.path.join(directory, name)
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write('#!/bin/sh\n' + (body % name if '%s' in body else body))
    os.chmod(path, 0o755)
    return path


DOCKER_OK = 'if [ "$1" = info ]; then echo 27.5.1; exit 0; fi\necho "Docker version 27.5.1"\n'
DOCKER_NO_ENGINE = ('if [ "$1" = info ]; then echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2; exit 1; fi\n'
                    'echo "Docker version 27.5.1"\n')


@pytest.fixture
def all_tools(tmp_path):
    directory = str(tmp_path / 'bin')
    os.mkdir(directory)
    fake_tool(directory, 'docker', DOCKER_OK)
    for name in ('kind', 'helm', 'kubectl', 'molecule'):
        fake_tool(directory, name)
    return directory


def run_script(path_value, *args):
    return subprocess.run([sys.executable, SCRIPT, *args], env={'PATH': path_value}, capture_output=True, text=True,
                          timeout=60, check=False)


def test_without_any_tool_it_fails_and_says_how_to_get_each(tmp_path):
    result = run_script(str(tmp_path))
    assert result.returncode == 1
    out = result.stdout
    for name in ('docker', 'kind', 'helm', 'kubectl', 'molecule'):
        assert re.search(r'MISSING\s+%s\b' % name, out), name
    assert 'apt-get install docker.io' in out
    assert 'https://github.com/kubernetes-sigs/kind/releases/download/v0.27.0/kind-linux-amd64' in out
    assert 'https://get.helm.sh/helm-v3.17.3-linux-amd64.tar.gz' in out
    assert 'https://dl.k8s.io/release/v1.32.2/bin/linux/amd64/kubectl' in out
    assert 'pip install molecule' in out
    assert out.rstrip().splitlines()[-1].startswith('e2e preflight: FAILED - missing: docker, kind, helm, kubectl, molecule')


def test_only_kind_missing_is_named_and_fails(all_tools):
    os.remove(os.path.join(all_tools, 'kind'))
    result = run_script(all_tools)
    assert result.returncode == 1
    assert re.search(r'MISSING\s+kind\s', result.stdout)
    assert 'missing: kind.' in result.stdout
    assert 'MISSING  helm' not in result.stdout


def test_with_every_tool_and_a_running_engine_it_passes(all_tools):
    result = run_script(all_tools)
    assert result.returncode == 0, result.stdout
    assert 'MISSING' not in result.stdout
    assert 'Docker engine 27.5.1' in result.stdout
    assert 'kind fake 1.0' in result.stdout  # the version line of each found tool
    assert result.stdout.rstrip().endswith('e2e preflight: all tools present')


def test_a_docker_cli_without_an_engine_is_not_enough(all_tools):
    fake_tool(all_tools, 'docker', DOCKER_NO_ENGINE)
    result = run_script(all_tools)
    assert result.returncode == 1
    assert 'cannot reach a Docker engine: Cannot connect to the Docker daemon' in result.stdout
    assert 'systemctl start docker' in result.stdout
    assert 'missing: docker engine.' in result.stdout


def test_skip_lets_create_yml_leave_out_molecule(all_tools):
    os.remove(os.path.join(all_tools, 'molecule'))
    assert run_script(all_tools).returncode == 1
    result = run_script(all_tools, '--skip', 'molecule')
    assert result.returncode == 0, result.stdout
    assert 'molecule' not in result.stdout.split('\n', 1)[1]


def test_main_can_be_called_in_process(tmp_path, capsys):
    assert load_script().main([], env={'PATH': str(tmp_path)}) == 1
    assert 'MISSING  kind' in capsys.readouterr().out


@pytest.mark.skipif(shutil.which('kind') is not None, reason='kind is installed on this machine')
def test_on_this_machine_kind_is_reported_missing():
    result = subprocess.run([sys.executable, SCRIPT], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    assert re.search(r'MISSING\s+kind\s', result.stdout)


def test_workflow_pins_the_same_versions_and_checksums():
    """The CI workflow installs exactly what the preflight recommends."""
    script = load_script()
    with open(os.path.join(ROOT, '.github', 'workflows', 'e2e.yml'), encoding='utf-8') as handle:
        workflow = yaml.safe_load(handle)
    env = workflow['env']
    assert env['KIND_VERSION'] == script.KIND_VERSION and env['KIND_SHA256'] == script.KIND_SHA256
    assert env['HELM_VERSION'] == script.HELM_VERSION and env['HELM_SHA256'] == script.HELM_SHA256
    assert env['KUBECTL_VERSION'] == script.KUBECTL_VERSION and env['KUBECTL_SHA256'] == script.KUBECTL_SHA256
    steps = ' '.join(str(step.get('run', '')) for step in workflow['jobs']['e2e']['steps'])
    assert 'sha256sum --check' in steps
    assert 'make e2e' in steps


def test_make_e2e_stops_before_molecule_when_kind_is_missing(all_tools, tmp_path):
    """`make e2e` itself: kind missing -> the preflight message, a non-zero status, and molecule never starts."""
    os.remove(os.path.join(all_tools, 'kind'))
    for tool in ('make', 'bash'):
        os.symlink(shutil.which(tool), os.path.join(all_tools, tool))
    # -o deps: this checkout's virtualenv and collections are used as they are (nothing is installed).
    result = subprocess.run(['make', '--no-print-directory', '-C', ROOT, '-o', 'deps', 'e2e'],
                            env={'PATH': all_tools, 'HOME': str(tmp_path)}, capture_output=True, text=True, timeout=120, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert re.search(r'MISSING\s+kind\s', result.stdout), output
    # make echoes a recipe line before running it: the molecule line never came.
    assert 'scripts/e2e_preflight.py' in result.stdout
    assert not re.search(r'^PATH=.*/molecule test -s kind$', result.stdout, re.M), output
