# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 11: the e2e compliance run on Cilium 1.19.6 failed on IPv6 solicitations dropped as UNSUPPORTED_L3_PROTOCOL.

hubble_flows_info reads the real capture (``tests/fixtures/real/1.19.6/hubble-observe-last200.jsonl``: a denied
curl netshot -> nginx, POLICY_DENIED, plus 12 ICMPv6 router/multicast solicitations to ff02::/16 dropped with reason
139), and its result goes through violation_report like in playbooks/compliance.yml. Before the fix every ICMPv6
drop was an unreviewed violation and ``fail_on: unexpected`` failed on them; now they are listed under other drops
and only the policy drop is judged.
"""

from __future__ import annotations

import json
import os

import pytest
from ansible.module_utils import _internal as module_utils_internal
from ansible.module_utils.testing import patch_module_args

from ansible_collections.netobs.cilium.plugins.modules import hubble_flows_info, violation_report

CAPTURE = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'real', '1.19.6', 'hubble-observe-last200.jsonl')
# The experiment's Namespace and NetworkPolicy: with a policy snapshot the evidence is complete and can earn a plain PASS.
SNAPSHOT = os.path.join(os.path.dirname(CAPTURE), 'policy-snapshot.json')
DENY_CURL = {'name': 'netshot-cannot-reach-nginx', 'from': 'cni-test/netshot', 'to': 'cni-test/nginx', 'port': 80, 'expect': 'deny'}


def run(module, capsys, monkeypatch, **args):
    monkeypatch.setattr(module_utils_internal, 'is_controller', False)
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def dropped(capsys, monkeypatch):
    result = run(hubble_flows_info, capsys, monkeypatch, src=CAPTURE, verdicts=['DROPPED'])
    assert not result.get('failed'), result.get('msg')
    reasons = {v['reason'] for v in result['violations']}
    assert reasons == {'POLICY_DENIED', 'UNSUPPORTED_L3_PROTOCOL'}  # the collector itself keeps every drop
    # What a registered result carries into the next task: no in-process warning/deprecation objects.
    return {k: v for k, v in result.items() if k not in ('warnings', 'deprecations') and not k.startswith('_')}


def test_real_capture_without_expectations_judges_only_the_policy_drop(dropped, capsys, monkeypatch, tmp_path):
    result = run(violation_report, capsys, monkeypatch, evidence=[dropped], cluster='netobs-local', dest=str(tmp_path), fail_on='unexpected')
    # Still a failure (the policy drop is unreviewed: no expectations), but only because of the policy drop.
    assert result['failed'] is True
    assert '1 unreviewed violation(s)' in result['msg'] and '6 other drop(s) (not policy verdicts, not judged)' in result['msg']
    assert [f['explanation'].split(':')[0] for f in result['findings']] == [
        'cni-test/netshot -> cni-test/nginx TCP/80 (EGRESS, POLICY_DENIED)']
    report = json.loads((tmp_path / 'compliance.json').read_text())
    assert [v['reason'] for v in report['violations']] == ['POLICY_DENIED']
    other = report['other_drops']
    assert other['count'] == 12 and other['total'] == 6 and not other['fail']
    assert [(r['reason'], r['reason_code'], r['count']) for r in other['by_reason']] == [('UNSUPPORTED_L3_PROTOCOL', 139, 12)]
    assert {i['destination']['ip'] for i in other['items']} == {'ff02::2', 'ff02::16', 'ff02::1:ff3e:7669', 'ff02::1:ff4e:7aed'}
    assert all(i['protocol'] == 'ICMPv6' for i in other['items'])
    assert report['summary']['other_drops'] == {'total': 6, 'count': 12, 'fail': False}
    markdown = (tmp_path / 'compliance.md').read_text()
    assert '## Other drops (not policy verdicts)' in markdown and 'ff02::2' in markdown.split('## Other drops')[1]
    assert 'UNSUPPORTED\\_L3\\_PROTOCOL' not in markdown.split('## Unexpected violations (unreviewed)')[1].split('## Other drops')[0]


def test_real_capture_with_the_deny_expectation_passes(dropped, capsys, monkeypatch, tmp_path):
    result = run(violation_report, capsys, monkeypatch, evidence=[dropped], cluster='netobs-local', dest=str(tmp_path),
                 fail_on='unexpected', expectations=[DENY_CURL], snapshot_src=[SNAPSHOT])
    assert not result.get('failed'), result.get('msg')
    assert result['verdict'] == 'pass' and result['summary']['unexpected'] == 0 and result['findings'] == []
    assert result['summary']['other_drops']['count'] == 12  # visible in the module result, not hidden
    junit = (tmp_path / 'compliance.junit.xml').read_text()
    assert 'failures="0"' in junit.split('>')[1] and 'skipped="6"' in junit.split('>')[1]
    assert 'name="netobs-local.other_drops"' in junit and 'other_drops.reason.UNSUPPORTED_L3_PROTOCOL" value="12"' in junit
    html = (tmp_path / 'compliance.html').read_text()
    assert 'Other drops (not policy verdicts)</h2>' in html and 'ff02::16' in html


def test_other_drops_fail_is_the_opt_in(dropped, capsys, monkeypatch, tmp_path):
    result = run(violation_report, capsys, monkeypatch, evidence=[dropped], cluster='netobs-local', dest=str(tmp_path),
                 fail_on='unexpected', expectations=[DENY_CURL], other_drops='fail')
    assert result['failed'] is True and result['verdict'] == 'fail'
    assert '6 other drop(s) (not policy verdicts, counted as failures)' in result['msg']
    assert {f['category'] for f in result['findings']} == {'other_drop'} and len(result['findings']) == 6
    junit = (tmp_path / 'compliance.junit.xml').read_text()
    assert junit.count('<failure type="other_drop"') == 6


def test_fail_on_any_does_not_fail_on_other_drops(dropped, capsys, monkeypatch, tmp_path):
    result = run(violation_report, capsys, monkeypatch, evidence=[dropped], cluster='netobs-local', dest=str(tmp_path),
                 fail_on='any', expectations=[DENY_CURL], snapshot_src=[SNAPSHOT])
    assert not result.get('failed'), result.get('msg')
    assert result['summary']['failing'] == 0 and result['summary']['other_drops']['total'] == 6
