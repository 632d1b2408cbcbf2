# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a list of tasks on localhost through ansible-playbook and return what each one registered."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')


def playbook_environment() -> dict:
    """The collections of .cache, the test interpreter, no colour, and no K8S_AUTH_KUBECONFIG from the caller."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.cache', 'collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false', ANSIBLE_PYTHON_INTERPRETER=sys.executable,
               ANSIBLE_RETRY_FILES_ENABLED='0', ANSIBLE_PIPELINING='1')
    env.pop('K8S_AUTH_KUBECONFIG', None)
    return env


def run_tasks(tmp_path, tasks: list[dict], keep_failures: bool = False, env: dict | None = None) -> list[dict]:
    """Run ``tasks`` (each registers r<i>); with ``keep_failures`` a failed task is returned instead of failing the play."""
    out = tmp_path / 'results.json'
    play_tasks = []
    for index, task in enumerate(tasks):
        task = dict(task)
        task.setdefault('register', f'r{index}')
        if keep_failures:
            task.setdefault('ignore_errors', True)
        play_tasks.append(task)
    names = ', '.join(f"'r{i}': r{i}" for i in range(len(tasks)))
    play_tasks.append({'name': 'Save results', 'ansible.builtin.copy': {'content': '{{ {%s} | to_json }}' % names, 'dest': str(out)}})
    (tmp_path / 'play.yml').write_text(yaml.safe_dump([{'hosts': 'localhost', 'gather_facts': False, 'tasks': play_tasks}], sort_keys=False))
    proc = subprocess.run([PLAYBOOK_BIN, '-i', 'localhost,', '-c', 'local', str(tmp_path / 'play.yml')], env=env or playbook_environment(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout
    data = json.loads(out.read_text(encoding='utf-8'))
    return [data[f'r{i}'] for i in range(len(tasks))]
