# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/install.md shows exactly what the install role renders, and documents every role variable."""

from __future__ import annotations

import os

import yaml
from script_files import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_script():
    return load_file('render_install_values', 'scripts', 'render_install_values.py')


def read(path):
    with open(os.path.join(ROOT, path), encoding='utf-8') as handle:
        return handle.read()


def test_generated_values_tables_are_current():
    script = load_script()
    doc = read('docs/install.md')
    assert script.splice(doc, script.generate()) == doc, 'run: python scripts/render_install_values.py'
    assert '| `extraConfig.hubble-drop-events-rate-limit` | - | - | - | `"0"` | `"0"` |' in doc


def test_every_role_variable_is_documented_and_has_a_matching_default():
    spec = yaml.safe_load(read('roles/install/meta/argument_specs.yml'))['argument_specs']
    defaults = yaml.safe_load(read('roles/install/defaults/main.yml'))
    doc = read('docs/install.md')
    options = spec['main']['options']
    assert set(options) == set(defaults)
    for name, option in options.items():
        assert name.startswith('install_')
        assert '`%s`' % name in doc, name
        assert option.get('default') == defaults[name], name
    for entry in ('preflight', 'verify'):
        for name, option in spec[entry]['options'].items():
            assert option == options[name], (entry, name)
