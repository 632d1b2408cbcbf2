#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module netobs.cilium.cni_info: which CNI plugins does the cluster already run?"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cni_info
short_description: Detect the CNI plugins a Kubernetes cluster already runs
version_added: 0.1.0
author:
  - netobs.cilium contributors (@netobs)
description:
  - Lists DaemonSets cluster-wide (falling back to well-known namespaces when that is forbidden), the C(tigera-operator) and
    C(calico-kube-controllers) Deployments and C(operator.tigera.io/v1) C(Installation) objects, and matches them against
    known CNI plugins - Calico (C(calico-node) in C(kube-system) or C(calico-system), C(tigera-operator), C(Installation)),
    Canal, Flannel, Weave Net, kindnet, Amazon VPC CNI, Antrea, kube-router and Cilium.
  - Used by the P(netobs.cilium.install#role) role as a guard - installing Cilium over another CNI breaks pod networking;
    migrating is a separate, deliberate step (Cilium documentation "Migrating a cluster to Cilium").
  - An information module - it never fails because another CNI was found; assert on RV(conflicting).
options: {}
extends_documentation_fragment:
  # ours first: earlier fragments win when attribute values are merged
  - netobs.cilium.module_attributes
  - netobs.cilium.module_attributes.read_only
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
requirements:
  - kubernetes >= 24.2.0
notes:
  - RBAC - list on daemonsets (cluster-wide, or in C(kube-system), C(calico-system), C(tigera-operator), C(kube-flannel), C(weave)),
    list on deployments cluster-wide and list on C(installations.operator.tigera.io).
seealso:
  - module: netobs.cilium.cilium_config_info
  - name: Migrating a cluster to Cilium
    description: Cilium's guide for moving a running cluster from another CNI.
    link: https://docs.cilium.io/en/stable/installation/k8s-install-migration/
"""

EXAMPLES = r"""
- name: Detect existing CNI plugins
  netobs.cilium.cni_info:
    kubeconfig: ~/.kube/config
  register: cni

- name: Stop when another CNI runs
  ansible.builtin.assert:
    that: cni.conflicting | length == 0
    fail_msg: "{{ cni.message }}"
"""

RETURN = r"""
cnis:
  description: Every CNI found, with the objects that identified it.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: CNI id (C(calico), C(canal), C(flannel), C(weave), C(kindnet), C(aws-vpc-cni), C(antrea), C(kube-router), C(cilium)).
      type: str
    display:
      description: Human name.
      type: str
    objects:
      description: The matching objects, as C(Kind namespace/name).
      type: list
      elements: str
  sample: [{name: calico, display: Calico, objects: [DaemonSet calico-system/calico-node]}]
conflicting:
  description: Ids of the CNIs other than Cilium.
  returned: always
  type: list
  elements: str
  sample: [calico]
cilium_present:
  description: Whether Cilium already runs (an install is then an upgrade).
  returned: always
  type: bool
cilium_objects:
  description: The Cilium objects found.
  returned: always
  type: list
  elements: str
message:
  description: One paragraph of guidance (what was found and what to do).
  returned: always
  type: str
notes:
  description: What could not be checked (for example forbidden cluster-wide listing).
  returned: always
  type: list
  elements: str
api_requests:
  description: Kubernetes API requests made.
  returned: always
  type: int
"""

from ansible_collections.netobs.cilium.plugins.module_utils.install import cni_detect
from ansible_collections.netobs.cilium.plugins.module_utils.module_support import arg_specs
from ansible_collections.netobs.cilium.plugins.module_utils.module_support.base import NetobsModule


def argument_spec():
    """Module options: the kubernetes.core connection options only."""
    return arg_specs.build()


def main():
    """Entry point."""
    module = NetobsModule(argument_spec(), doing='detecting the CNI', kube_error_prefix='cannot detect the CNI: ')

    def body():
        kube_client = module.require_kubernetes()
        api = module.kube_api()
        daemonsets, deployments, installations, notes = cni_detect.gather(api, kube_client.KubeAPIError)
        result = cni_detect.detect(daemonsets, deployments, installations)
        for note in notes:
            module.warn(note)
        return dict(changed=False, notes=notes, api_requests=api.request_count, **result)

    module.run(body)


if __name__ == '__main__':
    main()
