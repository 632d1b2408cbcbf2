# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 10 item 9: drop_events_info validates ``reasons`` (and ``wait_for.reason``) against Cilium's drop reasons.

A misspelt reason used to match nothing silently (an empty, green result). Now it is an error naming the bad
value and the closest real name. The names come from ``drop_reasons.DROP_REASONS``, the table the install role's
``install_drop_events_reasons`` check uses too.
"""

from __future__ import annotations

import json
import os

import pytest
from ansible.module_utils import _internal as module_utils_internal
from ansible.module_utils.testing import patch_module_args

from ansible_collections.netobs.cilium.plugins.module_utils.evidence import reasons as drop_reasons
from ansible_collections.netobs.cilium.plugins.module_utils.install import values as install_values
from ansible_collections.netobs.cilium.plugins.modules import drop_events_info

EVENTS = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'drop_events', 'events.json')


def run(capsys, monkeypatch, **args):
    monkeypatch.setattr(module_utils_internal, 'is_controller', False)
    with patch_module_args(args), pytest.raises(SystemExit):
        drop_events_info.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize('reasons, suggestion', [
    (['policy-denied'], "did you mean 'policy_denied'"),
    (['policy_denied', 'auth-required'], "'auth-required' is not a Cilium drop reason; did you mean 'auth_required'"),
    (['POLICY DENY'], "did you mean 'policy_deny'"),
    (['no-such-thing'], 'is not a Cilium drop reason'),
])
def test_unknown_reason_is_an_error_with_a_suggestion(capsys, monkeypatch, reasons, suggestion):
    result = run(capsys, monkeypatch, src=EVENTS, reasons=reasons)
    assert result['failed'] is True
    assert result['msg'].startswith('reasons: ') and suggestion in result['msg']
    assert 'policy_denied, policy_deny, auth_required' in result['msg']
    assert 'exception' not in result


def test_wait_for_reason_is_validated_too(capsys, monkeypatch):
    result = run(capsys, monkeypatch, wait_for={'reason': 'policy-denied', 'timeout': 1}, kubeconfig='/nonexistent')
    assert result['failed'] is True and "wait_for.reason: 'policy-denied' is not a Cilium drop reason" in result['msg']


@pytest.mark.parametrize('reasons, expected', [
    (['policy_denied'], 5),
    (['POLICY_DENIED', 'Auth_Required'], 6),
    (['133'], 5),  # numeric DropReason code
])
def test_known_reasons_in_any_case_still_filter(capsys, monkeypatch, reasons, expected):
    result = run(capsys, monkeypatch, src=EVENTS, reasons=reasons)
    assert not result.get('failed'), result.get('msg')
    assert result['events_total'] == 6 and len(result['drops']) == expected


def test_one_source_of_truth_with_the_install_role():
    assert {name.lower() for name in drop_reasons.DROP_REASON_CODES} == set(install_values.DROP_REASONS)
