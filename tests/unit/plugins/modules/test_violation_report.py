# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""netobs.cilium.violation_report in-process: argument errors give clear messages; documentation matches the argspec."""

from __future__ import annotations

import json

import pytest
import report_samples as samples
import yaml
from ansible.module_utils import _internal as module_utils_internal
from ansible.module_utils.testing import patch_module_args

from ansible_collections.netobs.cilium.plugins.modules import violation_report


def run(capsys, monkeypatch, **args):
    # Other tests in the same worker may have loaded controller code (e.g. the templar), which flips
    # module_utils into controller mode where warnings go to the display instead of the module result.
    monkeypatch.setattr(module_utils_internal, 'is_controller', False)
    with patch_module_args(args), pytest.raises(SystemExit):
        violation_report.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize('args, message', [
    ({'evidence': [{'stdout': 'hello'}]}, 'evidence[0] is not a result of netobs.cilium.drop_events_info or netobs.cilium.hubble_flows_info'),
    ({'snapshot': {'items': []}, 'snapshot_live': True}, 'give only one of snapshot, snapshot_src and snapshot_live (got snapshot, snapshot_live)'),
    ({'snapshot_namespaces': ['a']}, 'snapshot_namespaces only applies with snapshot_live: true'),
    ({'expectations': [{'name': 'x', 'from': 'netshot', 'to': 'world', 'expect': 'deny'}]},
     "invalid expectations: expectations: expectations[0] (x).from: 'netshot' is not a selector"),
    ({'expectations': [], 'expectations_file': '/nonexistent.yml'}, 'give expectations or expectations_file, not both'),
    ({'expectations_file': '/nonexistent.yml'}, 'expectations file /nonexistent.yml does not exist'),
    ({'snapshot_src': ['/nonexistent-dir']}, "cannot build the policy snapshot: policy snapshot source '/nonexistent-dir' does not exist"),
    ({'max_evidence': 0}, 'max_evidence must be between 1 and 50'),
    ({'rollup': ['/x.json'], 'evidence': [{'events_total': 0}]}, 'rollup reads finished JSON reports; remove evidence'),
    ({'rollup': ['/nonexistent.json']}, 'cannot build the roll-up: cannot read report /nonexistent.json'),
    ({'rollup': ['/x.json'], 'formats': ['junit']}, 'a roll-up is written as json, markdown or html'),
])
def test_user_errors(capsys, monkeypatch, tmp_path, args, message):
    result = run(capsys, monkeypatch, dest=str(tmp_path / 'out'), **args)
    assert result['failed'] is True
    assert message in result['msg']
    assert 'Traceback' not in str(result.get('exception', ''))
    assert not (tmp_path / 'out').exists()


def test_invalid_baseline_and_missing_baseline(capsys, monkeypatch, tmp_path):
    bad = tmp_path / 'bad.json'
    bad.write_text('{"kind": "other"}')
    result = run(capsys, monkeypatch, dest=str(tmp_path / 'out'), evidence=samples.example_evidence(), baseline=str(bad))
    assert result['failed'] and 'invalid baseline: ' in result['msg'] and 'is not a netobs.cilium compliance report' in result['msg']
    result = run(capsys, monkeypatch, dest=str(tmp_path / 'out'), evidence=samples.example_evidence(), baseline=str(tmp_path / 'none.json'),
                 formats=['markdown'])
    assert not result.get('failed') and result['changed'] is True
    assert 'does not exist (first run?)' in json.dumps(result.get('warnings'))
    assert [p.rsplit('/', 1)[1] for p in result['written']] == ['compliance.md']
    assert result['summary']['violations']['unreviewed'] == 1 and result['findings'][0]['category'] == 'unreviewed'


def test_documentation_matches_the_argument_spec():
    doc = yaml.safe_load(violation_report.DOCUMENTATION)
    spec = violation_report.argument_spec()
    own = {k: v for k, v in spec.items() if k in doc['options']}
    assert set(own) == set(doc['options']), set(own) ^ set(doc['options'])
    for name, option in own.items():
        documented = doc['options'][name]
        assert documented.get('type', 'str') == option.get('type', 'str'), name
        assert documented.get('default') == option.get('default'), name
        assert documented.get('choices') == option.get('choices'), name
        assert documented.get('elements') == option.get('elements'), name
        assert bool(documented.get('required')) == bool(option.get('required')), name
    yaml.safe_load(violation_report.EXAMPLES)
    assert set(yaml.safe_load(violation_report.RETURN)) == {'verdict', 'summary', 'reports', 'written', 'would_write', 'content_hash',
                                                            'findings', 'findings_truncated', 'coverage_notes'}
