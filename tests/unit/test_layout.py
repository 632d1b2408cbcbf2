# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection metadata users and Galaxy rely on."""

from __future__ import annotations

import os

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load(path):
    with open(os.path.join(ROOT, path), encoding='utf-8') as handle:
        return yaml.safe_load(handle)


def test_galaxy_identity_and_dependency():
    galaxy = load('galaxy.yml')
    assert (galaxy['namespace'], galaxy['name']) == ('netobs', 'cilium')
    assert galaxy['license'] == ['GPL-3.0-or-later']
    assert {'networking', 'security', 'monitoring', 'kubernetes', 'cilium'} <= set(galaxy['tags'])
    assert galaxy['dependencies'] == {'kubernetes.core': '>=6.0.0,<7.0.0'}


def test_build_ignore_keeps_development_files_out_of_the_artifact():
    ignored = set(load('galaxy.yml')['build_ignore'])
    for path in ('tests', 'molecule', '.venv', '.cache', '.ci', 'reports', 'scripts'):
        assert path in ignored, path


def test_runtime_requires_ansible_2_19():
    assert load('meta/runtime.yml')['requires_ansible'] == '>=2.19.0'
