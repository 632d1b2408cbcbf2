# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one copy of the Cilium names the collection matches on: reserved identities, policy entities, L4 protocols and
policy kinds. Each set is the superset upstream Cilium defines; the source is named next to it (see also
shared/reference/cilium-facts.md, "Reserved identity names").
"""

from __future__ import annotations

# Reserved numeric identities: pkg/identity/numericidentity.go (0 unknown ... 10 world-ipv6).
RESERVED_IDENTITIES: dict[int, str] = {
    0: 'unknown',
    1: 'host',
    2: 'world',
    3: 'unmanaged',
    4: 'health',
    5: 'init',
    6: 'remote-node',
    7: 'kube-apiserver',
    8: 'ingress',
    9: 'world-ipv4',
    10: 'world-ipv6',
}
RESERVED_IDENTITY_NUMBERS: dict[str, int] = {name: num for num, name in RESERVED_IDENTITIES.items()}
RESERVED_NAMES = tuple(RESERVED_IDENTITIES.values())

# Policy entities (toEntities/fromEntities): pkg/policy/api/entity.go, the kubebuilder enum
# "all;world;cluster;host;init;ingress;unmanaged;remote-node;health;none;kube-apiserver" plus world-ipv4/world-ipv6
# (EntityWorldIPv4/EntityWorldIPv6, Cilium >= 1.15). "none" selects nothing.
ENTITIES = ('all', 'world', 'world-ipv4', 'world-ipv6', 'cluster', 'host', 'remote-node', 'kube-apiserver',
            'health', 'init', 'ingress', 'unmanaged', 'none')
# Entities that are "outside the cluster" (EntitySelectorMapping: world, world-ipv4, world-ipv6).
WORLD_ENTITIES = frozenset(('world', 'world-ipv4', 'world-ipv6'))
# The node a pod runs on and the other nodes.
NODE_ENTITIES = frozenset(('host', 'remote-node'))
# Reserved identities inside the cluster that the "cluster" entity covers besides every pod (EntitySelectorMapping
# for EntityCluster: host, remote-node, kube-apiserver, init, health, unmanaged, ingress).
CLUSTER_ENTITIES = frozenset(('host', 'remote-node', 'kube-apiserver', 'health', 'init', 'ingress', 'unmanaged'))

# L4 protocols: pkg/policy/api/l4.go L4Proto. Ports apply to TCP, UDP and SCTP; ICMP rules are separate (icmps);
# "ICMP" is written ICMPv4 by Hubble, "ANY" matches every protocol.
PORT_PROTOCOLS = ('TCP', 'UDP', 'SCTP')
PROTOCOLS = ('TCP', 'UDP', 'SCTP', 'ICMP', 'ICMPv4', 'ICMPv6', 'ANY')

# Policy kinds as Hubble reports them (flow Policy.kind, label io.cilium.k8s.policy.derived-from) and as the API serves
# them; this order (namespaced Kubernetes first) is the order reports list policies in.
KIND_NP = 'NetworkPolicy'
KIND_CNP = 'CiliumNetworkPolicy'
KIND_CCNP = 'CiliumClusterwideNetworkPolicy'
POLICY_KINDS = (KIND_NP, KIND_CNP, KIND_CCNP)
CLUSTERWIDE_POLICY_KIND = KIND_CCNP
