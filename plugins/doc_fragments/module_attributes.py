# -*- coding: utf-8 -*-
# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attributes shared by every netobs.cilium module (use with ansible.builtin.action_common_attributes)."""

from __future__ import annotations


class ModuleDocFragment:
    """Attribute values; the attribute descriptions come from ansible.builtin.action_common_attributes(.actiongroups)."""

    # Every module runs on the controller (or wherever the play delegates it) and is in the action group.
    DOCUMENTATION = r'''
options: {}
attributes:
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
  action_group:
    support: full
    membership:
      - netobs.cilium.cilium
'''

    # For the _info modules, which only read.
    READ_ONLY = r'''
options: {}
attributes:
  check_mode:
    support: full
    details: The module only reads (the Kubernetes API, Hubble or files); it runs the same in check mode and never reports a change.
'''
