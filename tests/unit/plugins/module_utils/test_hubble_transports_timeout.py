# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""hubble_transports exec: ``timeout`` bounds all agent execs together, not each one (issue 10, item 5)."""

from __future__ import annotations

import threading
import time

from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble import transports as ht
from ansible_collections.netobs.cilium.plugins.module_utils.k8s.client import ExecResult


class SlowExecAPI:
    """Every agent's ``hubble observe`` hangs until the exec timeout it was given (like a stuck agent)."""

    def __init__(self, pods):
        self.pods = pods
        self.request_count = 0
        self.exec_timeouts = []
        self.lock = threading.Lock()

    def list_pages(self, path, params=None):
        self.request_count += 1
        yield {'items': self.pods}

    def exec_argv(self, namespace, pod, container, argv, timeout=60.0):
        with self.lock:
            self.request_count += 1
            self.exec_timeouts.append(timeout)
        time.sleep(timeout)
        return ExecResult(None, b'', b'', True)


def pod(name, node):
    return {'metadata': {'name': name}, 'spec': {'nodeName': node}, 'status': {'phase': 'Running'}}


def test_exec_budget_is_shared_by_all_agents_and_unqueried_agents_are_reported():
    pods = [pod('cilium-%02d' % i, 'n%02d' % i) for i in range(ht.EXEC_WORKERS + 4)]
    api = SlowExecAPI(pods)
    start = time.monotonic()
    result, collection = ht.collect(transport='exec', api=api, timeout=1)
    elapsed = time.monotonic() - start
    assert elapsed < 1 + 5  # one wave of execs, not two (the old per-pod timeout took 2 waves)
    assert len(api.exec_timeouts) == ht.EXEC_WORKERS and all(t <= 1 for t in api.exec_timeouts)
    reasons = {u['name']: u['reason'] for u in result['nodes']['unavailable']}
    assert len(reasons) == len(pods)
    assert sum('not queried' in r for r in reasons.values()) == 4
    assert result['timed_out'] is True and result['partial'] is True
    assert any('4 of %d agent pod(s) not queried' % len(pods) in reason for reason in result['partial_reasons'])
    assert any('partial' in warning for warning in collection.warnings)
