# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters ``netobs.cilium.install_values`` and ``netobs.cilium.install_diagnosis`` (thin wrappers around module_utils)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.netobs.cilium.plugins.module_utils.install.values import InstallValuesError, build_values
from ansible_collections.netobs.cilium.plugins.module_utils.install.workload_diagnosis import diagnose

_INPUT_KEYS = (
    'chart_version', 'profile', 'drop_events_enabled', 'drop_events_interval', 'drop_events_reasons',
    'drop_events_extended', 'drop_events_rate_limit', 'debug_enabled', 'debug_verbose', 'extra_values',
)


def install_values(inputs):
    """Role inputs (mapping without the ``install_`` prefix) -> normalised Helm values for the Cilium chart."""
    if not isinstance(inputs, dict):
        raise AnsibleFilterError('install_values: expected a mapping of role inputs, got %s' % type(inputs).__name__)
    unknown = sorted(set(inputs) - set(_INPUT_KEYS))
    if unknown:
        raise AnsibleFilterError('install_values: unknown input(s) %s; allowed: %s' % (', '.join(unknown), ', '.join(_INPUT_KEYS)))
    try:
        return build_values(**inputs)
    except InstallValuesError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def install_diagnosis(pods, events=None, workloads=None, expected=None):
    """k8s_info results (pods, events, workloads) -> one readable paragraph naming the pods that are not ready."""
    return diagnose(pods or [], events or [], workloads or [], expected or [])


class FilterModule:
    """netobs.cilium install filters."""

    def filters(self):
        return {'install_values': install_values, 'install_diagnosis': install_diagnosis}
