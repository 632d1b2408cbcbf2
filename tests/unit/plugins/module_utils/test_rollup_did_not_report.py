# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 10 item 3: a cluster that did not report is a failed row of the fleet roll-up, with its error, in every format."""

from __future__ import annotations

import json

import jsonschema
import pytest
import report_samples as samples
from ansible.module_utils import _internal as module_utils_internal
from ansible.module_utils.testing import patch_module_args

from ansible_collections.netobs.cilium.plugins.module_utils.report import build as report_model
from ansible_collections.netobs.cilium.plugins.module_utils.report import document as report_document
from ansible_collections.netobs.cilium.plugins.modules import violation_report

ERROR = 'Collect PacketDrop Events failed: Cannot reach the Kubernetes API at https://127.0.0.1:1'


def two_passing_reports(tmp_path):
    """Two reports without failures; the shipped sample lost 2 Hubble events, so each is 'incomplete' (issue 10 item 2)."""
    paths = []
    for cluster in ('prod', 'staging'):
        path = tmp_path / cluster / 'compliance.json'
        report_model.write_atomic(str(path), report_model.render(samples.example_report(cluster=cluster), 'json'))
        paths.append(str(path))
    return paths


def test_cluster_that_did_not_report_is_a_failed_row(tmp_path):
    rollup = report_model.build_rollup(two_passing_reports(tmp_path), now=samples.NOW,
                                       did_not_report=[{'cluster': 'edge', 'error': ERROR}])
    jsonschema.Draft202012Validator(samples.schema('fleet')).validate(rollup)
    assert [(c['cluster'], c['verdict'], c.get('error')) for c in rollup['clusters']] == [
        ('edge', 'fail', ERROR), ('prod', 'incomplete', None), ('staging', 'incomplete', None)]
    assert rollup['summary'] == {'clusters': 3, 'passed': 0, 'failed': 3, 'unexpected': 0}
    headline = f'3 cluster(s): 0 passed, 2 passed with incomplete evidence, 1 failed (did not report: edge: {ERROR})'
    assert report_document.rollup_headline(rollup) == headline
    assert headline in report_model.render(rollup, 'html').decode()
    markdown = report_model.render(rollup, 'markdown').decode()
    assert headline in markdown.replace('\\', '').replace('`', '')  # as rendered: escapes and code spans removed
    row = next(line for line in markdown.splitlines() if line.startswith('| `edge`'))
    assert '**FAIL**' in row and '**did not report**' in row and '127.0.0.1:1' in row


def test_did_not_report_needs_a_cluster_name():
    with pytest.raises(report_model.ReportError, match='needs a cluster name'):
        report_model.build_rollup([], did_not_report=[{'error': 'x'}])


def test_same_cluster_reported_and_missing_is_an_error(tmp_path):
    with pytest.raises(report_model.ReportError, match="cluster 'prod' appears in several"):
        report_model.build_rollup(two_passing_reports(tmp_path), did_not_report=[{'cluster': 'prod', 'error': 'x'}])


def run(capsys, monkeypatch, **args):
    monkeypatch.setattr(module_utils_internal, 'is_controller', False)
    with patch_module_args(args), pytest.raises(SystemExit):
        violation_report.main()
    return json.loads(capsys.readouterr().out)


def test_module_rollup_fails_the_fleet_for_a_missing_cluster(capsys, monkeypatch, tmp_path):
    paths = two_passing_reports(tmp_path)
    result = run(capsys, monkeypatch, rollup=paths, rollup_failed=[{'cluster': 'edge', 'error': ERROR}], dest=str(tmp_path / 'fleet'))
    assert not result.get('failed') and result['verdict'] == 'fail'
    assert result['summary'] == {'clusters': 3, 'passed': 0, 'failed': 3, 'unexpected': 0}
    assert result['findings'][0] == {'type': 'cluster', 'name': 'edge', 'verdict': 'fail', 'category': 'did_not_report', 'controls': [],
                                     'explanation': f'did not report: {ERROR}'}
    assert [(f['name'], f['verdict']) for f in result['findings'][1:]] == [('prod', 'incomplete'), ('staging', 'incomplete')]
    # fail_on=unexpected cannot be satisfied by a cluster nobody heard from.
    result = run(capsys, monkeypatch, rollup=paths, rollup_failed=[{'cluster': 'edge', 'error': ERROR}], dest=str(tmp_path / 'fleet'),
                 fail_on='unexpected')
    assert result['failed'] is True and '3 of 3 cluster(s) failed' in result['msg']  # 2 incomplete + 1 missing
    # Every cluster failed: the roll-up still says so.
    result = run(capsys, monkeypatch, rollup_failed=[{'cluster': 'edge', 'error': ERROR}], dest=str(tmp_path / 'only'))
    assert result['verdict'] == 'fail' and result['summary']['clusters'] == 1
