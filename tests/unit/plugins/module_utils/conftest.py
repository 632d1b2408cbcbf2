# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared test setup for module_utils: hypothesis profiles and the Cilium fixture directory.

``HYPOTHESIS_PROFILE=ci`` runs every property with 10 000 examples, no deadline, derandomized;
the default ``dev`` profile runs 200 examples for quick local runs. ``make test`` (scripts/gates.py)
selects ``ci``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    'ci',
    max_examples=10_000,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.register_profile(
    'dev',
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'dev'))

CILIUM_FIXTURES = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'fixtures', 'cilium'))


@pytest.fixture
def cilium_fixtures():
    """Directory of the Cilium fixtures copied into this repository (tests/fixtures/cilium)."""
    return CILIUM_FIXTURES
