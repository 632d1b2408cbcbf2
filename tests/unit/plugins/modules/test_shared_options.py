# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An option several modules have means the same thing in each: same spec, documented once by a shared fragment.

Also: every module is a NetobsModule, and each module's documentation (its own options plus the fragments it extends)
names exactly the options of its argument spec, with the same type, default, choices and elements.
"""

from __future__ import annotations

import importlib
import os

import pytest
import yaml

from ansible_collections.kubernetes.core.plugins.doc_fragments.k8s_auth_options import ModuleDocFragment as K8sAuthFragment
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.netobs.cilium.plugins.doc_fragments import common_options, module_attributes
from ansible_collections.netobs.cilium.plugins.module_utils.module_support import arg_specs

MODULES_DIR = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'plugins', 'modules')
MODULES = sorted(name[:-3] for name in os.listdir(MODULES_DIR) if name.endswith('.py') and not name.startswith('_'))
FRAGMENT_CLASSES = {
    'netobs.cilium.common_options': common_options.ModuleDocFragment,
    'netobs.cilium.module_attributes': module_attributes.ModuleDocFragment,
    'kubernetes.core.k8s_auth_options': K8sAuthFragment,
}


def load(name):
    module = importlib.import_module('ansible_collections.netobs.cilium.plugins.modules.' + name)
    return module, yaml.safe_load(module.DOCUMENTATION)


def fragment_options(reference):
    """Options documented by a fragment reference such as ``netobs.cilium.common_options.since``."""
    for prefix, cls in FRAGMENT_CLASSES.items():
        if reference == prefix or reference.startswith(prefix + '.'):
            section = reference[len(prefix) + 1:].upper() or 'DOCUMENTATION'
            return yaml.safe_load(getattr(cls, section)).get('options') or {}
    assert reference.startswith('ansible.builtin.'), 'unknown fragment %s' % reference
    return {}


def documented_options(doc):
    """The module's own options plus those of the fragments it extends (earlier fragments win, own options win)."""
    merged = {}
    for reference in reversed(doc.get('extends_documentation_fragment') or []):
        merged.update(fragment_options(reference))
    merged.update(doc.get('options') or {})
    return merged


def test_modules_are_found():
    assert MODULES == ['cilium_config_info', 'cni_info', 'drop_events_info', 'hubble_flows_info', 'violation_report']


@pytest.mark.parametrize('name', MODULES)
def test_every_module_is_a_netobs_module(name):
    with open(os.path.join(MODULES_DIR, name + '.py'), encoding='utf-8') as handle:
        source = handle.read()
    assert 'NetobsModule(argument_spec()' in source
    assert 'AnsibleModule' not in source and 'traceback' not in source and 'missing_required_lib' not in source


@pytest.mark.parametrize('name', MODULES)
def test_shared_options_have_the_shared_spec_and_fragment(name):
    module, doc = load(name)
    spec = module.argument_spec()
    own = doc.get('options') or {}
    fragments = doc.get('extends_documentation_fragment') or []
    for option, shared in arg_specs.SHARED.items():
        if option not in spec:
            assert arg_specs.FRAGMENTS.get(option) not in fragments, '%s extends the fragment of %s it does not have' % (name, option)
            continue
        assert spec[option] == shared, '%s: %s differs from arg_specs.SHARED' % (name, option)
        if option in arg_specs.FRAGMENTS:
            assert arg_specs.FRAGMENTS[option] in fragments, '%s: %s must extend %s' % (name, option, arg_specs.FRAGMENTS[option])
            assert option not in own, '%s documents %s itself; the shared fragment documents it' % (name, option)


@pytest.mark.parametrize('name', MODULES)
def test_auth_options_are_kubernetes_cores(name):
    module, doc = load(name)
    spec = module.argument_spec()
    assert {key: spec[key] for key in AUTH_ARG_SPEC} == AUTH_ARG_SPEC
    assert 'kubernetes.core.k8s_auth_options' in doc['extends_documentation_fragment']


def test_fragments_document_the_shared_specs():
    for option, reference in arg_specs.FRAGMENTS.items():
        documented = fragment_options(reference)
        assert list(documented) == [option], reference
        shared = arg_specs.SHARED[option]
        assert documented[option].get('type', 'str') == shared.get('type', 'str'), option
        assert documented[option].get('default') == shared.get('default'), option
        assert documented[option].get('elements') == shared.get('elements'), option


@pytest.mark.parametrize('name', MODULES)
def test_documentation_matches_the_argument_spec(name):
    module, doc = load(name)
    spec = module.argument_spec()
    documented = documented_options(doc)
    assert set(documented) == set(spec), set(documented) ^ set(spec)
    for option, entry in spec.items():
        described = documented[option]
        assert described.get('type', 'str') == entry.get('type', 'str'), (name, option)
        assert described.get('default') == entry.get('default'), (name, option)
        assert described.get('choices') == entry.get('choices'), (name, option)
        assert described.get('elements') == entry.get('elements'), (name, option)
        assert sorted(described.get('aliases') or []) == sorted(entry.get('aliases') or []), (name, option)


def test_a_shared_option_cannot_be_redefined():
    with pytest.raises(ValueError, match='since are shared'):
        arg_specs.build(('since',), since={'type': 'int'})


def test_one_name_for_the_cilium_namespace():
    for name in MODULES:
        spec = load(name)[0].argument_spec()
        others = [option for option in spec if 'namespace' in option and option not in ('cilium_namespace', 'namespaces', 'snapshot_namespaces')]
        assert not others, '%s has %s; the Cilium namespace is cilium_namespace everywhere' % (name, others)
