# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helm values built for the install role: valid for every supported chart, and every bad input refused clearly."""

from __future__ import annotations

import filecmp
import json
import os

import jsonschema
import pytest
import yaml

from ansible_collections.netobs.cilium.plugins.module_utils.install import values as iv

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CHART_DIR = os.path.join(TESTS_DIR, 'fixtures', 'cilium-chart')
SHARED_CHART_DIR = os.path.join(os.path.dirname(os.path.dirname(TESTS_DIR)), 'shared', 'cilium-chart')
VERSIONS = ('1.16.19', '1.17.18', '1.18.12', '1.19.6', '1.20.0')
FREE_FORM = ('extraConfig',)
_CACHE = {}


def emitted_paths(values, free_form=('extraConfig',)):
    """Dotted key paths of ``values`` (leaves); free-form maps are reported as their own path (moved from install/values.py,
    where only these tests used it)."""
    paths = []

    def walk(node, prefix):
        for key, value in node.items():
            path = prefix + (key,)
            if isinstance(value, dict) and value and '.'.join(path) not in free_form:
                walk(value, path)
            else:
                paths.append('.'.join(path))
    walk(values, ())
    return sorted(paths)


def chart(version):
    if version not in _CACHE:
        with open(os.path.join(CHART_DIR, version, 'values.yaml'), encoding='utf-8') as handle:
            values = yaml.safe_load(handle)
        with open(os.path.join(CHART_DIR, version, 'values.schema.json'), encoding='utf-8') as handle:
            schema = json.load(handle)
        _CACHE[version] = (values, jsonschema.Draft7Validator(schema))
    return _CACHE[version]


def variants(version):
    """The role's default inputs, the kind profile, and a maximal combination."""
    minor = int(version.split('.')[1])
    full = dict(chart_version=version, profile='kind', debug_enabled=True,
                debug_verbose=['flow', 'policy', 'kvstore', 'envoy', 'datapath'] + (['tagged'] if minor >= 19 else []),
                drop_events_interval='1m30s', drop_events_reasons=['POLICY_DENIED', 'policy_deny', 'auth_required', 'ttl_exceeded'],
                extra_values={'hubble': {'ui': {'enabled': True}}, 'cluster': {'name': 'netobs'}})
    if minor >= 19:
        full.update(drop_events_extended=False, drop_events_rate_limit=50)
    return {'default': dict(chart_version=version), 'kind': dict(chart_version=version, profile='kind'), 'full': full}


def key_exists(values, path):
    node = values
    for part in path.split('.'):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


@pytest.mark.parametrize('version', VERSIONS)
@pytest.mark.parametrize('variant', ('default', 'kind', 'full'))
def test_values_validate_against_the_chart_schema(version, variant):
    values = iv.build_values(**variants(version)[variant])
    errors = sorted(chart(version)[1].iter_errors(values), key=lambda e: list(e.path))
    assert not errors, ['%s: %s' % ('.'.join(map(str, e.path)), e.message) for e in errors]


@pytest.mark.parametrize('version', VERSIONS)
@pytest.mark.parametrize('variant', ('default', 'kind', 'full'))
def test_every_emitted_key_exists_in_that_charts_values_yaml(version, variant):
    chart_values = chart(version)[0]
    values = iv.build_values(**variants(version)[variant])
    missing = [p for p in emitted_paths(values, FREE_FORM) if not key_exists(chart_values, p)]
    assert not missing, 'keys absent from cilium %s values.yaml: %s' % (version, missing)


def test_the_key_check_catches_a_key_the_chart_lacks():
    # guard for the test above: a made-up key must be reported
    values = iv.build_values('1.19.6', extra_values={'hubble': {'dropEventEmitter': {'burst': 3}}})
    assert 'hubble.dropEventEmitter.burst' in [p for p in emitted_paths(values) if not key_exists(chart('1.19.6')[0], p)]


def test_default_values_for_the_default_chart():
    assert iv.build_values() == {
        'extraConfig': {'hubble-drop-events-extended': 'true', 'hubble-drop-events-rate-limit': '0'},
        'hubble': {
            'dropEventEmitter': {'enabled': True, 'interval': '5s', 'reasons': ['auth_required', 'policy_denied', 'policy_deny']},
            'enabled': True,
            'relay': {'enabled': True},
            'ui': {'enabled': False},
        },
    }


@pytest.mark.parametrize('version', ('1.16.19', '1.17.18', '1.18.12'))
def test_no_extra_config_before_1_19(version):
    values = iv.build_values(version)
    assert 'extraConfig' not in values
    assert values['hubble']['dropEventEmitter']['reasons'] == ['auth_required', 'policy_denied', 'policy_deny']


def test_extended_and_rate_limit_are_strings_on_1_19():
    values = iv.build_values('1.20.0', drop_events_extended=False, drop_events_rate_limit=25)
    assert values['extraConfig'] == {'hubble-drop-events-extended': 'false', 'hubble-drop-events-rate-limit': '25'}


def test_kind_profile_keys():
    values = iv.build_values('1.18.12', profile='kind')
    assert values['ipam'] == {'mode': 'kubernetes'}
    assert values['operator'] == {'replicas': 1, 'image': {'useDigest': False}}
    assert values['image'] == {'pullPolicy': 'IfNotPresent', 'useDigest': False}
    assert values['hubble']['relay'] == {'enabled': True, 'image': {'useDigest': False}}
    assert values['envoy'] == {'image': {'useDigest': False}}
    assert set(iv.KIND_PROFILE_REASONS) == set(emitted_paths(iv.kind_profile(iv.parse_chart_version('1.18.12'))))


def test_reasons_are_normalised():
    values = iv.build_values(drop_events_reasons=[' Policy_Deny ', 'POLICY_DENIED', 'policy_denied'])
    assert values['hubble']['dropEventEmitter']['reasons'] == ['policy_denied', 'policy_deny']


def test_debug_verbose_is_a_sorted_space_joined_string():
    values = iv.build_values('1.19.6', debug_enabled=True, debug_verbose=['policy', 'tagged', 'flow', 'flow'])
    assert values['debug'] == {'enabled': True, 'verbose': 'flow policy tagged'}
    assert 'debug' not in iv.build_values('1.19.6')


def test_extra_values_are_deep_merged_last():
    values = iv.build_values('1.19.6', profile='kind', extra_values={
        'operator': {'replicas': 2}, 'extraConfig': {'hubble-drop-events-rate-limit': 10, 'enable-l7-proxy': False}})
    assert values['operator'] == {'replicas': 2, 'image': {'useDigest': False}}
    assert values['extraConfig'] == {'enable-l7-proxy': 'false', 'hubble-drop-events-extended': 'true',
                                     'hubble-drop-events-rate-limit': '10'}


def test_rendering_is_deterministic_and_order_insensitive():
    first = iv.build_values('1.19.6', profile='kind', drop_events_reasons=['policy_deny', 'auth_required', 'policy_denied'])
    second = iv.build_values('1.19.6', profile='kind', drop_events_reasons=['auth_required', 'policy_denied', 'policy_deny'])
    assert json.dumps(first) == json.dumps(second)
    assert json.dumps(first) == json.dumps(iv.build_values('1.19.6', profile='kind', drop_events_reasons=['policy_deny', 'auth_required', 'policy_denied']))


@pytest.mark.parametrize('kwargs, variable, fragment', [
    (dict(drop_events_interval='5'), 'install_drop_events_interval', 'did you mean "5s"'),
    (dict(drop_events_interval=5), 'install_drop_events_interval', 'is a number, not a duration string (did you mean "5s"?)'),
    (dict(drop_events_interval=None), 'install_drop_events_interval', 'null is not a duration string'),
    (dict(drop_events_interval='5 s'), 'install_drop_events_interval', 'not a Go duration'),
    (dict(drop_events_interval='500ms'), 'install_drop_events_interval', 'shorter than 1s'),
    (dict(debug_enabled=True, debug_verbose=['flows']), 'install_debug_verbose', '"flows" is not a verbose debug group'),
    (dict(chart_version='1.18.12', debug_enabled=True, debug_verbose=['tagged']), 'install_debug_verbose', 'exists from the 1.19 charts'),
    (dict(debug_verbose=['flow']), 'install_debug_verbose', 'install_debug_enabled is false'),
    (dict(chart_version='1.15.7'), 'install_chart_version', 'supported are Cilium charts 1.16.x-1.20.x'),
    (dict(chart_version='1.21.0-pre.0'), 'install_chart_version', 'not supported'),
    (dict(chart_version='2.0.0'), 'install_chart_version', 'not supported'),
    (dict(chart_version='1.16.0-rc.1'), 'install_chart_version', 'no drop event is ever emitted'),
    (dict(chart_version='1.16.0-pre.0'), 'install_chart_version', 'no drop event is ever emitted'),
    (dict(chart_version='v1.19.6'), 'install_chart_version', 'leading "v"'),
    (dict(chart_version='1.19'), 'install_chart_version', 'not a semantic version'),
    (dict(drop_events_reasons=['policy_denied', 'Policy Denied', 'denied']), 'install_drop_events_reasons',
     '"Policy Denied", "denied" are not drop reason names'),
    (dict(drop_events_reasons='policy_denied'), 'install_drop_events_reasons', 'is not a list'),
    (dict(drop_events_reasons=[]), 'install_drop_events_reasons', 'emit nothing'),
    (dict(chart_version='1.16.19', drop_events_reasons=['drop_no_egress_ip']), 'install_drop_events_reasons', 'before Cilium 1.17'),
    (dict(chart_version='1.18.12', drop_events_extended=True), 'install_drop_events_extended', 'Cilium 1.19+'),
    (dict(chart_version='1.17.18', drop_events_rate_limit=0), 'install_drop_events_rate_limit', 'Cilium 1.19+'),
    (dict(drop_events_rate_limit=-1), 'install_drop_events_rate_limit', 'non-negative integer'),
    (dict(profile='minikube'), 'install_profile', 'allowed: default, kind'),
    (dict(drop_events_enabled='yes'), 'install_drop_events_enabled', 'not a boolean'),
    (dict(extra_values={'hubble': {'enabled': False}}), 'install_extra_values', 'hubble.enabled must stay true'),
    (dict(extra_values={'hubble': {'relay': {'enabled': False}}}), 'install_extra_values', 'hubble.relay.enabled must stay true'),
    (dict(extra_values={'hubble': {'dropEventEmitter': {'interval': 120}}}), 'install_extra_values', 'did you mean "120s"'),
    (dict(extra_values={'hubble': {'dropEventEmitter': {'reasons': ['nope']}}}), 'install_extra_values', '"nope" is not a drop reason name'),
    (dict(extra_values=['a']), 'install_extra_values', 'not a mapping'),
])
def test_invalid_inputs_are_refused_with_a_clear_message(kwargs, variable, fragment):
    with pytest.raises(iv.InstallValuesError) as err:
        iv.build_values(**kwargs)
    message = str(err.value)
    assert message.startswith(variable), message
    assert fragment in message, message


@pytest.mark.parametrize('version', ('1.16.0-rc.2', '1.16.0', '1.16.19', '1.19.0-pre.2', '1.20.0', '1.19.6+build.1'))
def test_accepted_versions(version):
    assert iv.build_values(version)['hubble']['dropEventEmitter']['enabled'] is True


@pytest.mark.parametrize('text, seconds', [('5s', 5), ('1m30s', 90), ('2m', 120), ('1h', 3600), ('1.5s', 1.5), ('1500ms', 1.5)])
def test_go_durations(text, seconds):
    assert iv.parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.shared_reference
@pytest.mark.parametrize('version', VERSIONS)
def test_chart_copies_equal_the_shared_reference(version):
    if not os.path.isdir(SHARED_CHART_DIR):
        pytest.skip('shared reference %s is absent' % SHARED_CHART_DIR)
    for name in ('values.yaml', 'values.schema.json', 'Chart.yaml'):
        assert filecmp.cmp(os.path.join(CHART_DIR, version, name), os.path.join(SHARED_CHART_DIR, version, name), shallow=False), name


def test_fixture_chart_versions_match_their_directory():
    for version in VERSIONS:
        with open(os.path.join(CHART_DIR, version, 'Chart.yaml'), encoding='utf-8') as handle:
            assert yaml.safe_load(handle)['version'] == version
    assert sorted(os.listdir(CHART_DIR)) == sorted(VERSIONS)
