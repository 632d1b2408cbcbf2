# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One wording for "the time budget ran out" and "src holds nothing to read" in both sources."""

from __future__ import annotations

import types

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils._common.partial import empty_src_messages, time_up
from ansible_collections.netobs.cilium.plugins.module_utils.sources.events.collector import DropEventsCollector, DropEventsError
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble import transports
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble.relay import FlowQuery, HubbleError


def test_time_up_is_said_once():
    state = types.SimpleNamespace(timed_out=False, warnings=[])
    reasons = []
    assert time_up(state, 'timeout (5s)', 'page 3 not read', reasons.append)
    assert not time_up(state, 'timeout (5s)', 'again', reasons.append)
    assert reasons == ['timeout (5s) reached: page 3 not read']
    assert state.warnings == ['timeout (5s) reached: page 3 not read; the result holds what was collected until then (partial)']


def test_both_collectors_word_the_time_budget_alike():
    events = DropEventsCollector(timeout=5)
    events._time_up('namespace x not listed')  # pylint: disable=protected-access
    flows = transports.FlowCollection(FlowQuery())
    flows.timeout = 5
    flows.time_up('namespace x not listed')
    assert events.warnings == flows.warnings == [
        'timeout (5s) reached: namespace x not listed; the result holds what was collected until then (partial)']


def test_empty_src_messages_are_one_shape(tmp_path):
    error, warning = empty_src_messages('/x', 'Things', 'nothing', 'Save things with "x"')
    assert error.startswith('src /x holds no Things: it contains nothing. Save things with "x"; set allow_empty: true')
    assert warning == 'src /x holds no Things (nothing): evidence is empty and will be reported as incomplete'
    empty = tmp_path / 'empty.json'
    empty.write_text('')
    with pytest.raises(DropEventsError, match=r'holds no Kubernetes Event: it contains nothing\. Save PacketDrop'):
        DropEventsCollector().collect_src(str(empty))
    with pytest.raises(HubbleError, match=r'holds no Hubble flows: it contains .*\. Save flows'):
        transports.collect_file(transports.FlowCollection(FlowQuery()), str(empty))
