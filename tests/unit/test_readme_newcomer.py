# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The newcomer path of the README and docs (issue 10, item 11): how to install the collection itself, and
``ansible_python_interpreter`` in every example that runs the modules on the controller."""

from __future__ import annotations

import glob
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = ['README.md'] + sorted(os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, 'docs', '**', '*.md'), recursive=True))
FENCE = re.compile(r'^```(\w*)\n(.*?)^```', re.M | re.S)


def read(path):
    with open(os.path.join(REPO, path), encoding='utf-8') as handle:
        return handle.read()


def local_examples(path):
    """Fenced yaml/ini examples that run modules on the controller: a play with connection: local, or an inventory of clusters."""
    return [(index, body) for index, (lang, body) in enumerate(FENCE.findall(read(path)))
            if lang in ('yaml', 'yml', 'ini', '') and ('connection: local' in body or 'netobs_kubeconfig' in body)]


@pytest.mark.parametrize('path', DOCS)
def test_every_local_connection_example_sets_the_interpreter(path):
    missing = [index for index, body in local_examples(path) if 'ansible_python_interpreter' not in body]
    assert not missing, (f'{path}: fenced example(s) #{missing} run modules on the controller but do not set '
                         'ansible_python_interpreter: "{{ ansible_playbook_python }}"')


def test_the_readme_examples_are_checked():
    assert len(local_examples('README.md')) >= 3


def test_readme_says_how_to_install_the_collection():
    readme = read('README.md')
    section = readme.split('## Install the collection', 1)[1].split('\n## ', 1)[0]
    assert 'ansible-galaxy collection install netobs.cilium' in section                    # from Galaxy
    assert 'ansible-galaxy collection build' in section                                    # from source
    assert re.search(r'ansible-galaxy collection install netobs-cilium-[\d.]+\.tar\.gz', section)
    assert 'kubernetes.core' in section and 'pip install -r requirements.txt' in section
    assert 'ansible_python_interpreter: "{{ ansible_playbook_python }}"' in section
