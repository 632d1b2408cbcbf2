# -*- coding: utf-8 -*-
# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options that mean the same thing in every netobs.cilium module that has them.

Each section documents one option of ``plugins/module_utils/module_support/arg_specs.py`` ``SHARED``; a module that has
the option extends ``netobs.cilium.common_options.<option>`` and takes the spec from ``arg_specs.build``.
"""

from __future__ import annotations


class ModuleDocFragment:
    """One section per shared option."""

    DOCUMENTATION = r'''
options: {}
'''

    CILIUM_NAMESPACE = r'''
options:
  cilium_namespace:
    description: Namespace Cilium is installed in (the agent pods, the C(cilium-config) ConfigMap, Hubble Relay).
    type: str
    default: kube-system
'''

    NAMESPACES = r'''
options:
  namespaces:
    description:
      - Only drops that involve a pod in one of these namespaces - for PacketDrop Events the pod the Event is attached
        to, for Hubble flows the source B(or) the destination pod.
      - Default is all namespaces.
    type: list
    elements: str
'''

    SINCE = r'''
options:
  since:
    description:
      - Only drops seen at or after this time.
      - A duration before now (V(15m), V(1h30m), V(90s), V(2d); units C(w d h m s ms)) or an RFC 3339 timestamp
        (V(2025-05-31T05:24:48Z)). Durations count back from the current time, also when saved files are read.
    type: str
'''

    ALLOW_EMPTY = r'''
options:
  allow_empty:
    description:
      - Accept a O(src) that holds no evidence record at all (an empty capture) instead of failing. The result then has
        RV(coverage.empty=true) and M(netobs.cilium.violation_report) reports the evidence as incomplete, never as a
        plain pass.
    type: bool
    default: false
'''

    MAX_DROPS = r'''
options:
  max_drops:
    description:
      - Maximum number of individual drops returned in RV(drops) (violations always cover every drop).
      - V(0) returns all drops.
    type: int
    default: 100
'''

    MAX_VIOLATIONS = r'''
options:
  max_violations:
    description:
      - Maximum number of violations returned in RV(violations), largest first (RV(violations_total) counts all).
      - V(0) returns all violations.
    type: int
    default: 100
'''
