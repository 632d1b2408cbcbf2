# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cilium/Hubble enum tables: drop reasons, reserved identities, verdicts, directions, event types.

Values follow the ``flow`` protobuf API (``api/v1/flow/flow.proto``) as of Cilium 1.19.
Everything here is pure data plus small normalising helpers; nothing is imported from Cilium.
"""

from __future__ import annotations

import difflib

from ansible_collections.netobs.cilium.plugins.module_utils._common.enums import (  # pylint: disable=unused-import  # re-exported
    CLUSTERWIDE_POLICY_KIND, PORT_PROTOCOLS, POLICY_KINDS, RESERVED_IDENTITIES, RESERVED_IDENTITY_NUMBERS)
from ansible_collections.netobs.cilium.plugins.module_utils._common.enums import WORLD_ENTITIES as _WORLD_ENTITIES

# DropReason enum (flow.proto). Names are the enum names; events use the lower-case form as reason token.
DROP_REASONS: dict[int, str] = {
    0: 'DROP_REASON_UNKNOWN',
    130: 'INVALID_SOURCE_MAC',
    131: 'INVALID_DESTINATION_MAC',
    132: 'INVALID_SOURCE_IP',
    133: 'POLICY_DENIED',
    134: 'INVALID_PACKET_DROPPED',
    135: 'CT_TRUNCATED_OR_INVALID_HEADER',
    136: 'CT_MISSING_TCP_ACK_FLAG',
    137: 'CT_UNKNOWN_L4_PROTOCOL',
    138: 'CT_CANNOT_CREATE_ENTRY_FROM_PACKET',
    139: 'UNSUPPORTED_L3_PROTOCOL',
    140: 'MISSED_TAIL_CALL',
    141: 'ERROR_WRITING_TO_PACKET',
    142: 'UNKNOWN_L4_PROTOCOL',
    143: 'UNKNOWN_ICMPV4_CODE',
    144: 'UNKNOWN_ICMPV4_TYPE',
    145: 'UNKNOWN_ICMPV6_CODE',
    146: 'UNKNOWN_ICMPV6_TYPE',
    147: 'ERROR_RETRIEVING_TUNNEL_KEY',
    148: 'ERROR_RETRIEVING_TUNNEL_OPTIONS',
    149: 'INVALID_GENEVE_OPTION',
    150: 'UNKNOWN_L3_TARGET_ADDRESS',
    151: 'STALE_OR_UNROUTABLE_IP',
    152: 'NO_MATCHING_LOCAL_CONTAINER_FOUND',
    153: 'ERROR_WHILE_CORRECTING_L3_CHECKSUM',
    154: 'ERROR_WHILE_CORRECTING_L4_CHECKSUM',
    155: 'CT_MAP_INSERTION_FAILED',
    156: 'INVALID_IPV6_EXTENSION_HEADER',
    157: 'IP_FRAGMENTATION_NOT_SUPPORTED',
    158: 'SERVICE_BACKEND_NOT_FOUND',
    160: 'NO_TUNNEL_OR_ENCAPSULATION_ENDPOINT',
    161: 'FAILED_TO_INSERT_INTO_PROXYMAP',
    162: 'REACHED_EDT_RATE_LIMITING_DROP_HORIZON',
    163: 'UNKNOWN_CONNECTION_TRACKING_STATE',
    164: 'LOCAL_HOST_IS_UNREACHABLE',
    165: 'NO_CONFIGURATION_AVAILABLE_TO_PERFORM_POLICY_DECISION',
    166: 'UNSUPPORTED_L2_PROTOCOL',
    167: 'NO_MAPPING_FOR_NAT_MASQUERADE',
    168: 'UNSUPPORTED_PROTOCOL_FOR_NAT_MASQUERADE',
    169: 'FIB_LOOKUP_FAILED',
    170: 'ENCAPSULATION_TRAFFIC_IS_PROHIBITED',
    171: 'INVALID_IDENTITY',
    172: 'UNKNOWN_SENDER',
    173: 'NAT_NOT_NEEDED',
    174: 'IS_A_CLUSTERIP',
    175: 'FIRST_LOGICAL_DATAGRAM_FRAGMENT_NOT_FOUND',
    176: 'FORBIDDEN_ICMPV6_MESSAGE',
    177: 'DENIED_BY_LB_SRC_RANGE_CHECK',
    178: 'SOCKET_LOOKUP_FAILED',
    179: 'SOCKET_ASSIGN_FAILED',
    180: 'PROXY_REDIRECTION_NOT_SUPPORTED_FOR_PROTOCOL',
    181: 'POLICY_DENY',
    182: 'VLAN_FILTERED',
    183: 'INVALID_VNI',
    184: 'INVALID_TC_BUFFER',
    185: 'NO_SID',
    186: 'MISSING_SRV6_STATE',
    187: 'NAT46',
    188: 'NAT64',
    189: 'AUTH_REQUIRED',
    190: 'CT_NO_MAP_FOUND',
    191: 'SNAT_NO_MAP_FOUND',
    192: 'INVALID_CLUSTER_ID',
    193: 'UNSUPPORTED_PROTOCOL_FOR_DSR_ENCAP',
    194: 'NO_EGRESS_GATEWAY',
    195: 'UNENCRYPTED_TRAFFIC',
    196: 'TTL_EXCEEDED',
    197: 'NO_NODE_ID',
    198: 'DROP_RATE_LIMITED',
    199: 'IGMP_HANDLED',
    200: 'IGMP_SUBSCRIBED',
    201: 'MULTICAST_HANDLED',
    202: 'DROP_HOST_NOT_READY',
    203: 'DROP_EP_NOT_READY',
    204: 'DROP_NO_EGRESS_IP',
    205: 'DROP_PUNT_PROXY',
}
DROP_REASON_CODES: dict[str, int] = {name: code for code, name in DROP_REASONS.items()}

# Drop reasons the agent's emitter reports by default (Helm hubble.dropEventEmitter.reasons).
DEFAULT_EVENT_REASONS = ('AUTH_REQUIRED', 'POLICY_DENIED')

# Drop reasons that are network-policy verdicts: no allow rule / default deny (POLICY_DENIED), an explicit deny rule
# (POLICY_DENY) and authentication required by a policy (AUTH_REQUIRED). Every other known reason is a datapath drop
# (unsupported protocol, conntrack, routing, NAT, ...): not a verdict of any policy.
POLICY_VERDICT_REASONS = frozenset(('POLICY_DENIED', 'POLICY_DENY', 'AUTH_REQUIRED'))
# What some common datapath drops mean (shown next to them in the reports).
NON_POLICY_HINTS: dict[str, str] = {
    'UNSUPPORTED_L3_PROTOCOL': 'the packet uses an L3 protocol this Cilium does not handle, typically IPv6 (router/multicast '
                               'solicitations to ff02::/16) while IPv6 is disabled in Cilium',
    'CT_MAP_INSERTION_FAILED': 'the connection-tracking map is full (see bpf-ct-global-*-max)',
    'STALE_OR_UNROUTABLE_IP': 'the source IP is not (or no longer) assigned to the endpoint',
    'SERVICE_BACKEND_NOT_FOUND': 'a Service had no backend for the packet',
    'FIB_LOOKUP_FAILED': 'the kernel FIB has no route for the destination',
    'INVALID_SOURCE_IP': 'the source IP does not belong to the sending endpoint',
    'UNKNOWN_L4_PROTOCOL': 'the L4 protocol is not handled by Cilium',
}


def is_policy_verdict(reason) -> bool | None:
    """True for a policy-verdict drop reason, False for a known datapath (non-policy) reason, None when it is unknown.

    Unknown covers no reason, ``DROP_REASON_UNKNOWN``, ``UNKNOWN_<n>`` codes (a newer Cilium) and names outside the
    table: callers must treat those as possibly policy (judge them), never hide them.
    """
    name = reason_name(reason) if reason is not None else None
    if not name or name == 'DROP_REASON_UNKNOWN' or name not in DROP_REASON_CODES:
        return None
    return name in POLICY_VERDICT_REASONS


# Identities below this value are reserved/well-known (identity.MinimalNumericIdentity).
MINIMAL_NUMERIC_IDENTITY = 256
# Reserved entities that stand for "any address outside the cluster": keyed by IP when aggregating.
WORLD_ENTITIES = _WORLD_ENTITIES | {'unknown'}

VERDICTS: dict[int, str] = {
    0: 'VERDICT_UNKNOWN',
    1: 'FORWARDED',
    2: 'DROPPED',
    3: 'ERROR',
    4: 'AUDIT',
    5: 'REDIRECTED',
    6: 'TRACED',
    7: 'TRANSLATED',
}
VERDICT_CODES: dict[str, int] = {name: code for code, name in VERDICTS.items()}

TRAFFIC_DIRECTIONS: dict[int, str] = {0: 'TRAFFIC_DIRECTION_UNKNOWN', 1: 'INGRESS', 2: 'EGRESS'}
DIRECTIONS = ('ingress', 'egress', 'unknown')

# Monitor message types (flow.event_type.type).
EVENT_TYPES: dict[int, str] = {
    0: 'unspec',
    1: 'drop',
    2: 'debug',
    3: 'capture',
    4: 'trace',
    5: 'policy-verdict',
    6: 'recorder',
    7: 'trace-sock',
    129: 'l7',
    130: 'agent',
}
EVENT_TYPE_DROP = 1
EVENT_TYPE_POLICY_VERDICT = 5
# event_type value used for a Kubernetes PacketDrop Event.
EVENT_TYPE_K8S_EVENT = 'event'

LOST_EVENT_SOURCES: dict[int, str] = {
    0: 'UNKNOWN_LOST_EVENT_SOURCE',
    1: 'PERF_EVENT_RING_BUFFER',
    2: 'OBSERVER_EVENTS_QUEUE',
    3: 'HUBBLE_RING_BUFFER',
}
NODE_STATES: dict[int, str] = {
    0: 'UNKNOWN_NODE_STATE',
    1: 'NODE_CONNECTED',
    2: 'NODE_UNAVAILABLE',
    3: 'NODE_GONE',
    4: 'NODE_ERROR',
}

# Layer4 oneof keys (JSON names are identical in proto-name and camelCase form) and the canonical protocol names.
PROTOCOLS = ('TCP', 'UDP', 'ICMPv4', 'ICMPv6', 'SCTP', 'VRRP', 'IGMP')
# TCPFlags field order.
TCP_FLAGS = ('FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR', 'NS')


def _int_or_none(value):
    """Return ``value`` as int when it is an int or a decimal string, else None (bool is not an int here)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text[:1] == '-':
            return -int(text[1:]) if text[1:].isdigit() and text[1:].isascii() else None
        if text.isdigit() and text.isascii():
            return int(text)
    return None


def enum_name(value, table: dict[int, str], unknown_prefix: str = 'UNKNOWN_') -> str | None:
    """Normalise an enum that may arrive as a name or a number (int or decimal string) to its upper-case name.

    Unknown numbers become ``<unknown_prefix><n>``; unknown names are kept (upper-cased). None stays None.
    """
    if value is None:
        return None
    number = _int_or_none(value)
    if number is not None:
        return table.get(number, f'{unknown_prefix}{number}')
    if isinstance(value, str):
        return value.strip().upper() or None
    return None


def reason_name(value) -> str | None:
    """Drop reason (name in any case, event token such as ``policy_denied``, or numeric code) to its enum NAME."""
    return enum_name(value, DROP_REASONS)


def reason_code(name: str | None) -> int | None:
    """Numeric code of a drop reason NAME (``UNKNOWN_<n>`` gives n), None when unknown."""
    if not name:
        return None
    code = DROP_REASON_CODES.get(name)
    if code is not None:
        return code
    if name.startswith('UNKNOWN_'):
        return _int_or_none(name[8:])
    return None


def verdict_name(value) -> str | None:
    """Verdict name or number to its enum NAME."""
    return enum_name(value, VERDICTS)


def direction_name(value) -> str:
    """TrafficDirection (name/number, or ``ingress``/``egress`` text) to ``ingress``/``egress``/``unknown``."""
    name = enum_name(value, TRAFFIC_DIRECTIONS)
    if name == 'INGRESS':
        return 'ingress'
    if name == 'EGRESS':
        return 'egress'
    return 'unknown'


def event_type_name(value) -> str | None:
    """Monitor event type number to a short name (``drop``, ``policy-verdict``, ``trace``, ...)."""
    number = _int_or_none(value)
    if number is None:
        return None
    return EVENT_TYPES.get(number, f'type-{number}')


def reserved_identity_name(identity: int | None) -> str | None:
    """Name of a reserved numeric identity (0..10), else None."""
    if identity is None:
        return None
    return RESERVED_IDENTITIES.get(identity)


REASON_HINT = 'use Cilium DropReason names (case-insensitive) such as policy_denied, policy_deny, auth_required'


def unknown_reason_message(value, option: str = 'reasons') -> str:
    """Error text for a value that is not a drop reason, with the closest names as a suggestion."""
    text = str(value).strip().lower() if isinstance(value, str) else ''
    names = sorted(name.lower() for name in DROP_REASON_CODES)
    close = difflib.get_close_matches(text.replace('-', '_').replace(' ', '_'), names, n=2, cutoff=0.6) if text else []
    hint = 'did you mean %s? ' % ' or '.join("'%s'" % name for name in close) if close else ''
    shown = repr(value) if isinstance(value, str) else 'a value of type %s' % type(value).__name__
    return f'{option}: {shown[:80]} is not a Cilium drop reason; {hint}{REASON_HINT}'


def check_reason(value, option: str = 'reasons') -> str:
    """A drop reason given by a user (name in any case, or numeric code) to its enum NAME; ValueError when unknown."""
    if isinstance(value, str) and value.strip():
        name = reason_name(value)
        if name in DROP_REASON_CODES:
            return name
    raise ValueError(unknown_reason_message(value, option))
