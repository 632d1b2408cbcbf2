# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Live collectors are bounded (issue 10, item 5): a persistent 410 Gone cannot make the watch relist in a hot loop,
and ``timeout`` / ``wait_for.timeout`` bound the whole call (listing, paging, parsing), returning what was collected
with ``partial: true``. The Events are served by the session's real kube-apiserver; the 410s are its own answers after
an etcd compaction, the slow responses come from the fault proxy in front of it. Assertions are on flags and request
counts seen by the proxy, with generous time margins only as a guard against hangs.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils.sources.events import collector as drop_events
from ansible_collections.netobs.cilium.plugins.module_utils.report import collect as pipeline
from ansible_collections.netobs.cilium.plugins.module_utils.k8s.client import KubeAPI

pytestmark = pytest.mark.integration

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(REPO, 'tests', 'fixtures', 'drop_events')


def fixture_events(name='events.json'):
    with open(os.path.join(FIXTURES, name), encoding='utf-8') as handle:
        return json.load(handle)


def api_for(kubeconfig, **kwargs):
    kwargs.setdefault('backoff', 0.01)
    return KubeAPI.from_kubeconfig(kubeconfig, **kwargs)


def events_requests(kube):
    return [(r.query.get('watch') == 'true', r.status) for r in list(kube.requests) if r.path.endswith('/events')]


def test_persistent_410_on_watch_relists_a_bounded_number_of_times_and_is_reported(real_kube, monkeypatch):
    monkeypatch.setattr(drop_events, 'RELIST_BACKOFF', 0.05)
    srv = real_kube
    srv.apply(fixture_events())
    # every watch: etcd is compacted first, so the apiserver answers "too old resource version" (410) every time
    gone = srv.add_fault(method='GET', path=r'watch=true', expire=True, times=None)
    collector = pipeline.AggregatedDropEvents(api=api_for(srv.kubeconfig), wait_for={'pod': 'never', 'timeout': 20})
    start = time.monotonic()
    result = collector.collect_live()
    assert time.monotonic() - start < 20  # gave up long before wait_for.timeout (the old code spun for all 20 s)
    requests = events_requests(srv)
    watches = sum(1 for is_watch, _status in requests if is_watch)
    lists = sum(1 for is_watch, _status in requests if not is_watch)
    assert watches == drop_events.MAX_WATCH_RELISTS + 1 == gone.hits
    assert {r.stream_error for r in srv.requests if r.query.get('watch')} == {410}
    assert lists == 1 + drop_events.MAX_WATCH_RELISTS
    assert len(requests) <= 15  # the old code sent thousands in 20 s
    assert result['coverage']['watch_relists'] == drop_events.MAX_WATCH_RELISTS
    assert result['partial'] is True
    assert any('410 Gone' in reason and 'gave up relisting' in reason for reason in result['partial_reasons'])
    assert result['wait']['satisfied'] is False and result['events_total'] == 6


def test_relists_back_off_exponentially(real_kube, monkeypatch):
    monkeypatch.setattr(drop_events, 'RELIST_BACKOFF', 0.2)
    srv = real_kube
    srv.apply(fixture_events())
    srv.add_fault(method='GET', path=r'watch=true', expire=True, times=None)
    collector = pipeline.AggregatedDropEvents(api=api_for(srv.kubeconfig), wait_for={'pod': 'never', 'timeout': 30})
    start = time.monotonic()
    collector.collect_live()
    elapsed = time.monotonic() - start
    # 1st relist immediately, then 0.2, 0.4, 0.8, 1.6 s (jitter >= 0.8x): a lower bound cannot be flaky under load
    assert elapsed >= 0.8 * 0.2 * (1 + 2 + 4 + 8)
    assert collector.watch_relists == drop_events.MAX_WATCH_RELISTS


def test_timeout_bounds_a_slow_plain_list_and_returns_partial(real_kube):
    srv = real_kube
    srv.apply(fixture_events())
    srv.add_fault(method='GET', path=r'/api/v1/events', status=None, delay=15, times=None)  # every list answers after 15 s
    api = api_for(srv.kubeconfig)
    start = time.monotonic()
    result, collector = pipeline.drop_events(api=api, timeout=2)
    assert time.monotonic() - start < 12  # generous: the server would need 15 s per request
    assert result['partial'] is True and result['timed_out'] is True
    assert result['events_total'] == 0
    assert any(reason.startswith('timeout (2s) reached') for reason in result['partial_reasons'])
    assert any('partial' in warning for warning in collector.warnings)
    assert api.request_count <= 2 and api.deadline is None


def test_timeout_returns_the_pages_read_before_it_ran_out(real_kube):
    srv = real_kube
    srv.apply(fixture_events())
    srv.add_fault(method='GET', path=r'continue=', status=None, delay=15, times=None)  # first page fast, the next ones slow
    api = api_for(srv.kubeconfig)
    result, _collector = pipeline.drop_events(api=api, page_size=2, timeout=2)
    assert result['partial'] is True and result['timed_out'] is True
    assert result['events_total'] == 2 and len(result['drops']) == 2
    assert 'stopped after 1 page(s)' in result['partial_reasons'][0]
    assert api.request_count <= 3


def test_wait_for_timeout_also_bounds_the_listing(real_kube):
    srv = real_kube
    srv.apply(fixture_events())
    srv.add_fault(method='GET', path=r'/api/v1/events\?', status=None, delay=15, times=None)
    api = api_for(srv.kubeconfig)
    start = time.monotonic()
    with pytest.raises(drop_events.DropEventsError) as err:
        pipeline.drop_events(api=api, wait_for={'pod': 'never', 'timeout': 2})
    assert time.monotonic() - start < 12
    result = err.value.result
    assert result['timed_out'] is True and result['partial'] is True and result['wait']['satisfied'] is False
    assert any(reason.startswith('wait_for.timeout (2') for reason in result['partial_reasons'])
    assert sum(1 for is_watch, _status in events_requests(srv) if is_watch) == 0  # never got to watch


def test_no_timeout_hit_is_a_complete_result(real_kube):
    real_kube.apply(fixture_events())
    result, _collector = pipeline.drop_events(api=api_for(real_kube.kubeconfig), page_size=2, timeout=60)
    assert result['partial'] is False and result['timed_out'] is False and result['events_total'] == 6
    assert result['coverage']['watch_relists'] == 0


@pytest.mark.parametrize('bad', [0, -1, 'soon', True])
def test_timeout_must_be_positive_seconds(bad):
    with pytest.raises(drop_events.DropEventsError, match='timeout must be a number of seconds > 0'):
        pipeline.AggregatedDropEvents(api=None, timeout=bad)
