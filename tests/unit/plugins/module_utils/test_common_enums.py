# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One copy of the Cilium names (_common.enums): every layer sees the same entities, protocols and policy kinds."""

from __future__ import annotations

from ansible_collections.netobs.cilium.plugins.module_utils._common import enums
from ansible_collections.netobs.cilium.plugins.module_utils.attribution import cilium, netpol, snapshot
from ansible_collections.netobs.cilium.plugins.module_utils.evidence import reasons
from ansible_collections.netobs.cilium.plugins.module_utils.verdicts import expectations as exp


def test_upstream_entity_enum_is_covered():
    # pkg/policy/api/entity.go kubebuilder enum plus world-ipv4/world-ipv6
    upstream = 'all;world;cluster;host;init;ingress;unmanaged;remote-node;health;none;kube-apiserver'.split(';')
    assert set(upstream) | {'world-ipv4', 'world-ipv6'} == set(enums.ENTITIES)
    assert cilium.ENTITIES is enums.ENTITIES
    assert set(exp.ENTITIES) == set(enums.ENTITIES) - {'none'}  # "none" selects nothing: no expectation peer


def test_reserved_identities_are_the_numbered_upstream_list():
    assert enums.RESERVED_IDENTITIES[7] == 'kube-apiserver' and len(enums.RESERVED_IDENTITIES) == 11
    assert reasons.RESERVED_IDENTITIES is enums.RESERVED_IDENTITIES
    assert snapshot.RESERVED_ENTITIES == tuple(enums.RESERVED_IDENTITIES.values())
    assert enums.CLUSTER_ENTITIES == set(enums.RESERVED_NAMES) - enums.WORLD_ENTITIES - {'unknown'}


def test_sets_are_shared_not_copied():
    assert netpol.PORT_PROTOCOLS is reasons.PORT_PROTOCOLS is enums.PORT_PROTOCOLS
    assert exp.PROTOCOLS is enums.PROTOCOLS and set(enums.PORT_PROTOCOLS) < set(enums.PROTOCOLS)
    assert snapshot.WORLD_ENTITIES is exp.WORLD_NAMES is enums.WORLD_ENTITIES
    assert reasons.WORLD_ENTITIES == enums.WORLD_ENTITIES | {'unknown'}  # aggregation also keys "unknown" by IP
    assert cilium.CLUSTER_RESERVED is exp.CLUSTER_ENTITIES is enums.CLUSTER_ENTITIES
    assert snapshot.POLICY_KINDS is reasons.POLICY_KINDS is enums.POLICY_KINDS
    assert reasons.CLUSTERWIDE_POLICY_KIND == snapshot.KIND_CCNP
