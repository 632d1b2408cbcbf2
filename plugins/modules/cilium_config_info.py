#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module netobs.cilium.cilium_config_info: can this Cilium installation emit PacketDrop events?"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cilium_config_info
short_description: Check that a Cilium installation can emit PacketDrop events
version_added: 0.1.0
author:
  - netobs.cilium contributors (@netobs)
description:
  - Reads the C(cilium-config) ConfigMap, the Cilium agent pods (C(k8s-app=cilium)), the C(cilium) ClusterRole and the
    C(hubble-relay) Deployment in O(cilium_namespace) and returns named checks, each with C(name), C(status) (V(pass), V(fail) or V(unknown)),
    a one-line C(message) and C(details).
  - "Checks: C(hubble_enabled), C(drop_events_enabled), C(drop_events_interval), C(drop_events_reasons) (must include
    C(policy_denied) and C(policy_deny); honours the version-specific parsing: whitespace-only splitting on 1.16,
    case-sensitive matching up to 1.18), C(drop_events_extended) and C(drop_events_rate_limit) (1.19+; a rate limit
    other than 0 is reported as a warning), C(policy_audit_mode) (must be off), C(bpf_drop_events) and
    C(bpf_policy_verdict_events) (absent keys mean the default V(true)), C(events_rbac) (the agent may create and patch
    events), C(agents_ready), C(relay_ready)."
  - The Cilium version comes from the agent image tag, else a version label on the ConfigMap, else O(cilium_version).
  - This is an information module; it never fails because a check failed. Use O(required_checks) and assert on
    RV(required_failed).
  - Works offline on saved objects with O(src) (and O(clusterrole_src)).
options:
  configmap_name:
    description: Name of the Cilium agent ConfigMap.
    type: str
    default: cilium-config
  clusterrole_name:
    description: Name of the Cilium agent ClusterRole.
    type: str
    default: cilium
  cilium_version:
    description:
      - Cilium version to evaluate against (for example V(1.18.12)) when it cannot be detected, typically with O(src).
      - Overrides the detected version.
    type: str
  src:
    description:
      - Path to a saved ConfigMap (C(kubectl get configmap cilium-config -o yaml) or C(-o json)) instead of reading the cluster.
      - The file may also be a List or multi-document YAML that holds the ClusterRole, the C(hubble-relay) Deployment and the
        agent pods; checks whose objects are missing report V(unknown).
    type: path
  clusterrole_src:
    description: Path to a saved ClusterRole (YAML or JSON) used with O(src); requires O(src).
    type: path
  required_checks:
    description:
      - Check names whose status must be V(pass); the ones that are not are listed in RV(required_failed).
      - The module still does not fail; assert on RV(required_failed) in the play.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  # ours first: earlier fragments win when attribute values are merged
  - netobs.cilium.module_attributes
  - netobs.cilium.module_attributes.read_only
  - netobs.cilium.common_options.cilium_namespace
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
requirements:
  - kubernetes >= 24.2.0 (for live reads)
  - PyYAML (for YAML files)
notes:
  - Read-only RBAC needed for live reads - get on configmaps and deployments and list on pods in O(cilium_namespace),
    get on the ClusterRole. A check whose object cannot be read (for example HTTP 403) reports V(unknown).
  - The task fails when the credentials are rejected (HTTP 401) or the API server cannot be reached.
seealso:
  - module: netobs.cilium.cni_info
  - name: Cilium Helm values for the drop-event emitter
    description: Helm values the netobs.cilium.install role renders per chart version.
    link: https://github.com/netobs/cilium/blob/main/docs/install.md
"""

EXAMPLES = r"""
- name: Check the live installation
  netobs.cilium.cilium_config_info:
    kubeconfig: ~/.kube/config
    context: kind-netobs
  register: cilium_cfg

- name: Require what the drop-event emitter needs
  netobs.cilium.cilium_config_info:
    required_checks: [hubble_enabled, drop_events_enabled, drop_events_reasons, events_rbac, policy_audit_mode]
  register: cilium_cfg

- name: Fail when one of them did not pass
  ansible.builtin.assert:
    that: cilium_cfg.required_failed | length == 0
    fail_msg: "{{ cilium_cfg.checks | selectattr('name', 'in', cilium_cfg.required_failed) | map(attribute='message') | list }}"

- name: Evaluate a saved ConfigMap (for example from a support bundle)
  netobs.cilium.cilium_config_info:
    src: bundle/cilium-config.yaml
    clusterrole_src: bundle/clusterrole-cilium.yaml
    cilium_version: 1.18.12
"""

RETURN = r"""
checks:
  description: All checks in a fixed order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Check name.
      type: str
      sample: drop_events_reasons
    status:
      description: V(pass), V(fail) or V(unknown) (the object could not be read or the answer depends on an unknown version).
      type: str
      sample: fail
    message:
      description: One line explaining the result and what to change.
      type: str
      sample: "missing policy_deny (policy_deny is the reason for explicit deny rules; not listed); set hubble.dropEventEmitter.reasons"
    details:
      description: Check-specific values (for example C(interval), C(effective) reasons, C(missing_verbs), C(warning)).
      type: dict
  sample:
    - {name: hubble_enabled, status: pass, message: enable-hubble is true, details: {value: "true"}}
summary:
  description: Number of checks per status.
  returned: always
  type: dict
  sample: {pass: 11, fail: 1, unknown: 0}
failed_checks:
  description: Names of the checks with status V(fail).
  returned: always
  type: list
  elements: str
required_failed:
  description: Names from O(required_checks) whose status is not V(pass).
  returned: always
  type: list
  elements: str
unknown_required:
  description: Names in O(required_checks) that are not check names (typos).
  returned: always
  type: list
  elements: str
version:
  description: Cilium version the checks were evaluated for (null when not detected).
  returned: always
  type: str
  sample: 1.19.6
version_source:
  description: Where RV(version) came from.
  returned: always
  type: str
  sample: agent image tag
config:
  description: The C(cilium-config) keys the checks looked at (absent keys omitted).
  returned: always
  type: dict
  sample: {enable-hubble: "true", hubble-drop-events: "true", hubble-drop-events-interval: 5s}
source:
  description: V(cluster) or the O(src) path.
  returned: always
  type: str
api_requests:
  description: Kubernetes API requests made (0 offline).
  returned: always
  type: int
"""

from ansible_collections.netobs.cilium.plugins.module_utils.install import config as cilium_config
from ansible_collections.netobs.cilium.plugins.module_utils.install.config_info import check_installation
from ansible_collections.netobs.cilium.plugins.module_utils.module_support import arg_specs
from ansible_collections.netobs.cilium.plugins.module_utils.module_support.base import NetobsModule, message


def argument_spec():
    """Module options: kubernetes.core auth options plus ours."""
    return arg_specs.build(
        ('cilium_namespace', 'src'),
        configmap_name=dict(type='str', default='cilium-config'),
        clusterrole_name=dict(type='str', default='cilium'),
        cilium_version=dict(type='str'),
        clusterrole_src=dict(type='path'),
        required_checks=dict(type='list', elements='str', default=[]),
    )


def main():
    """Entry point."""
    module = NetobsModule(argument_spec(), required_by={'clusterrole_src': 'src'}, doing='checking the Cilium configuration',
                          kube_error_prefix='cannot check the Cilium configuration: ')
    params = module.params

    def body():
        result, warnings = check_installation(
            src=params['src'], clusterrole_src=params['clusterrole_src'], namespace=params['cilium_namespace'],
            configmap_name=params['configmap_name'], clusterrole_name=params['clusterrole_name'],
            cilium_version=params['cilium_version'], required_checks=params['required_checks'],
            connect=lambda: module.kube_api(error_prefix=''))
        for warning in warnings:
            module.warn(warning)
        return result

    module.run(body, (cilium_config.CiliumConfigError, message()))


if __name__ == '__main__':
    main()
