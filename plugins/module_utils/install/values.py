# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build the Helm values for installing Cilium with Hubble and the drop-event emitter.

This is the ONE place where the ``netobs.cilium.install`` role's inputs become Helm values.
``build_values()`` is a pure function (inputs -> values dict) that validates every input and
raises ``InstallValuesError`` with a message naming the variable, the bad value and what is
allowed. The output is normalised (strings where the chart renders strings, sorted lists
where order is irrelevant, stable key order) so a second ``helm upgrade`` sees no drift.

Facts behind the rules (Cilium charts 1.16.x-1.20.x):

* the emitter is a hook of the agent's Hubble observer: ``hubble.enabled`` must stay true;
* charts 1.16.0-pre.0 ... 1.16.0-rc.1 join ``reasons`` with "," while the agent splits on
  whitespace, so those charts never produce a single event;
* reasons are lower-case ``DropReason`` enum names; explicit deny rules drop with
  ``policy_deny`` which is not in the chart's default list;
* ``hubble-drop-events-extended`` and ``hubble-drop-events-rate-limit`` exist from 1.19 and
  have no Helm key: they go through ``extraConfig`` as strings;
* the ``tagged`` verbose debug group exists from the 1.19 charts.
"""

from __future__ import annotations

import copy
import re

from ansible_collections.netobs.cilium.plugins.module_utils._common.duration import GO_UNITS, sum_duration_parts
from ansible_collections.netobs.cilium.plugins.module_utils._common.errors import NetobsError

# Supported chart range: 1.16.0-rc.2 (first chart that renders usable reasons) .. 1.20.x
SUPPORTED_MINORS = (16, 17, 18, 19, 20)
DEFAULT_CHART_VERSION = '1.19.6'
DEFAULT_INTERVAL = '5s'
DEFAULT_REASONS = ('auth_required', 'policy_denied', 'policy_deny')
PROFILES = ('default', 'kind')

# Lower-case DropReason enum names (api/v1/flow/flow.proto) with the first minor that has them.
_DROP_REASONS_ALL = (
    'drop_reason_unknown', 'invalid_source_mac', 'invalid_destination_mac', 'invalid_source_ip', 'policy_denied',
    'invalid_packet_dropped', 'ct_truncated_or_invalid_header', 'ct_missing_tcp_ack_flag', 'ct_unknown_l4_protocol',
    'ct_cannot_create_entry_from_packet', 'unsupported_l3_protocol', 'missed_tail_call', 'error_writing_to_packet',
    'unknown_l4_protocol', 'unknown_icmpv4_code', 'unknown_icmpv4_type', 'unknown_icmpv6_code', 'unknown_icmpv6_type',
    'error_retrieving_tunnel_key', 'error_retrieving_tunnel_options', 'invalid_geneve_option', 'unknown_l3_target_address',
    'stale_or_unroutable_ip', 'no_matching_local_container_found', 'error_while_correcting_l3_checksum',
    'error_while_correcting_l4_checksum', 'ct_map_insertion_failed', 'invalid_ipv6_extension_header',
    'ip_fragmentation_not_supported', 'service_backend_not_found', 'no_tunnel_or_encapsulation_endpoint',
    'failed_to_insert_into_proxymap', 'reached_edt_rate_limiting_drop_horizon', 'unknown_connection_tracking_state',
    'local_host_is_unreachable', 'no_configuration_available_to_perform_policy_decision', 'unsupported_l2_protocol',
    'no_mapping_for_nat_masquerade', 'unsupported_protocol_for_nat_masquerade', 'fib_lookup_failed',
    'encapsulation_traffic_is_prohibited', 'invalid_identity', 'unknown_sender', 'nat_not_needed', 'is_a_clusterip',
    'first_logical_datagram_fragment_not_found', 'forbidden_icmpv6_message', 'denied_by_lb_src_range_check',
    'socket_lookup_failed', 'socket_assign_failed', 'proxy_redirection_not_supported_for_protocol', 'policy_deny',
    'vlan_filtered', 'invalid_vni', 'invalid_tc_buffer', 'no_sid', 'missing_srv6_state', 'nat46', 'nat64',
    'auth_required', 'ct_no_map_found', 'snat_no_map_found', 'invalid_cluster_id', 'unsupported_protocol_for_dsr_encap',
    'no_egress_gateway', 'unencrypted_traffic', 'ttl_exceeded', 'no_node_id', 'drop_rate_limited', 'igmp_handled',
    'igmp_subscribed', 'multicast_handled', 'drop_host_not_ready', 'drop_ep_not_ready', 'drop_no_egress_ip',
    'drop_punt_proxy',
)
_REASON_SINCE_MINOR = {'drop_no_egress_ip': 17, 'drop_punt_proxy': 18}
DROP_REASONS = frozenset(_DROP_REASONS_ALL)

# Verbose debug groups accepted by the agent (values.yaml "Applicable values").
_VERBOSE_GROUPS_BASE = ('datapath', 'envoy', 'flow', 'kvstore', 'policy')
_VERBOSE_GROUPS_119 = _VERBOSE_GROUPS_BASE + ('tagged',)

EXTENDED_KEY = 'hubble-drop-events-extended'
RATE_LIMIT_KEY = 'hubble-drop-events-rate-limit'

# kind profile: why each key is there (rendered into docs/install.md by scripts/render_install_values.py).
KIND_PROFILE_REASONS = {
    'ipam.mode': 'kind allocates a podCIDR per node (kube-controller-manager --allocate-node-cidrs); Cilium\'s kind guide uses '
                 'ipam.mode=kubernetes instead of the default cluster-pool 10.0.0.0/8, which can overlap the kind Docker network',
    'operator.replicas': 'the operator has a required podAntiAffinity per hostname: on a one-node kind cluster the second '
                         'replica stays Pending and the cilium-operator readiness gate would never pass',
    'image.pullPolicy': 'use images preloaded with `kind load docker-image` instead of pulling them again (as in Cilium\'s kind guide)',
    'image.useDigest': 'a `kind load`-ed image has no registry digest; with useDigest=true the pod references repo:tag@sha256:... '
                       'which a preloaded image may not satisfy (agent image)',
    'operator.image.useDigest': 'same as image.useDigest, for the cilium-operator image',
    'hubble.relay.image.useDigest': 'same as image.useDigest, for the hubble-relay image',
    'envoy.image.useDigest': 'same as image.useDigest, for the cilium-envoy DaemonSet image (envoy runs as its own DaemonSet by default '
                             'since 1.16)',
}
# Chart minors in which each kind-profile key exists (all of 1.16-1.20 carry them; kept explicit so a
# future chart that drops one fails the per-version key test instead of silently emitting junk).
_KIND_KEYS_SINCE_MINOR = {key: 16 for key in KIND_PROFILE_REASONS}

_VERSION_RE = re.compile(r'^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$')


class InstallValuesError(NetobsError, ValueError):
    """An input of the install role is invalid; the message names the variable, the value and what is allowed."""


class ChartVersion:
    """A parsed Cilium chart version (``1.19.6``, ``1.16.0-rc.2``)."""

    def __init__(self, text, major, minor, patch, prerelease):
        self.text = text
        self.major = major
        self.minor = minor
        self.patch = patch
        self.prerelease = prerelease

    def at_least(self, minor):
        """True when this is chart 1.<minor> or newer."""
        return (self.major, self.minor) >= (1, minor)

    def __repr__(self):
        return 'ChartVersion(%r)' % self.text


def _fmt(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if value is None:
        return 'null'
    return repr(value) if not isinstance(value, str) else '"%s"' % value


def parse_chart_version(value, variable='install_chart_version'):
    """Parse and check a chart version; return a ``ChartVersion`` or raise ``InstallValuesError``."""
    if not isinstance(value, str) or not value.strip():
        raise InstallValuesError('%s: %s is not a chart version; use a Cilium chart version such as "%s" (supported: 1.16.x-1.20.x)'
                                 % (variable, _fmt(value), DEFAULT_CHART_VERSION))
    text = value.strip()
    if text[:1] in ('v', 'V'):
        raise InstallValuesError('%s: "%s" has a leading "v"; Helm chart versions have none (image tags do): use "%s"'
                                 % (variable, text, text[1:]))
    match = _VERSION_RE.match(text)
    if not match:
        raise InstallValuesError('%s: "%s" is not a semantic version MAJOR.MINOR.PATCH[-PRERELEASE]; use e.g. "%s" (supported: 1.16.x-1.20.x)'
                                 % (variable, text, DEFAULT_CHART_VERSION))
    major, minor, patch = int(match.group(1)), int(match.group(2)), int(match.group(3))
    prerelease = match.group(4)
    if major != 1 or minor not in SUPPORTED_MINORS:
        raise InstallValuesError('%s: chart "%s" is not supported; supported are Cilium charts 1.16.x-1.20.x (1.16.0-rc.2 or newer): '
                                 'the drop-event emitter first shipped in 1.16 and newer charts are not verified' % (variable, text))
    if (minor, patch) == (16, 0) and prerelease and not _is_fixed_116_prerelease(prerelease):
        raise InstallValuesError('%s: chart "%s" is refused: charts 1.16.0-pre.0 ... 1.16.0-rc.1 join hubble.dropEventEmitter.reasons '
                                 'with "," while the agent splits on whitespace, so no drop event is ever emitted; '
                                 'use 1.16.0-rc.2 or newer (e.g. "1.16.19")' % (variable, text))
    return ChartVersion(text, major, minor, patch, prerelease)


def _is_fixed_116_prerelease(prerelease):
    """1.16.0 prereleases: only rc.2 and later have the fixed ``join " "``."""
    match = re.match(r'^rc\.(\d+)', prerelease)
    return bool(match) and int(match.group(1)) >= 2


def parse_go_duration(value, variable='install_drop_events_interval'):
    """Parse a Go ``time.ParseDuration`` string (``5s``, ``1m30s``) into seconds, requiring >= 1s."""
    allowed = 'a Go duration string with a unit, e.g. "5s", "30s", "2m", "1m30s" (at least 1s)'
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise InstallValuesError('%s: %s is a number, not a duration string (did you mean "%ss"?); use %s' % (variable, value, value, allowed))
    if not isinstance(value, str):
        raise InstallValuesError('%s: %s is not a duration string; use %s' % (variable, _fmt(value), allowed))
    text = value.strip()
    seconds = sum_duration_parts(text, GO_UNITS)
    if seconds is None:
        hint = ' (a bare number has no unit: did you mean "%ss"?)' % text if re.match(r'^\d+(\.\d+)?$', text) else ''
        raise InstallValuesError('%s: "%s" is not a Go duration%s; use %s' % (variable, value, hint, allowed))
    if seconds < 1:
        raise InstallValuesError('%s: "%s" is shorter than 1s; the emitter\'s event correlator works in whole seconds: use %s'
                                 % (variable, value, allowed))
    return seconds


def normalise_reasons(reasons, version=None, variable='install_drop_events_reasons'):
    """Lower-case, de-duplicate, sort and validate drop reason names."""
    if isinstance(reasons, str) or not isinstance(reasons, (list, tuple)):
        raise InstallValuesError('%s: %s is not a list; use a list of drop reason names such as %s'
                                 % (variable, _fmt(reasons), list(DEFAULT_REASONS)))
    result = set()
    bad = []
    for item in reasons:
        if not isinstance(item, str) or not item.strip():
            bad.append(item)
            continue
        name = item.strip().lower()
        if name not in DROP_REASONS:
            bad.append(item)
            continue
        since = _REASON_SINCE_MINOR.get(name)
        if version is not None and since is not None and not version.at_least(since):
            raise InstallValuesError('%s: reason "%s" does not exist before Cilium 1.%d (chart %s); remove it or use a newer chart'
                                     % (variable, name, since, version.text))
        result.add(name)
    if bad:
        raise InstallValuesError('%s: %s %s; use lower-case DropReason names from Cilium\'s flow API '
                                 '(e.g. policy_denied, policy_deny, auth_required); explicit deny rules drop with policy_deny'
                                 % (variable, ', '.join(_fmt(b) for b in bad), 'is not a drop reason name' if len(bad) == 1 else 'are not drop reason names'))
    if not result:
        raise InstallValuesError('%s: the list is empty; the emitter would emit nothing. Use e.g. %s' % (variable, list(DEFAULT_REASONS)))
    return sorted(result)


def verbose_groups(version):
    """Verbose debug groups the agent of that chart version accepts."""
    return _VERBOSE_GROUPS_119 if version.at_least(19) else _VERBOSE_GROUPS_BASE


def normalise_verbose(groups, version, variable='install_debug_verbose'):
    """Validate debug groups; return the space-joined sorted string or None."""
    if groups is None:
        return None
    if isinstance(groups, str):
        groups = groups.split()
    if not isinstance(groups, (list, tuple)):
        raise InstallValuesError('%s: %s is not a list of debug groups; use e.g. ["flow", "policy"]' % (variable, _fmt(groups)))
    allowed = verbose_groups(version)
    names = set()
    for item in groups:
        name = item.strip().lower() if isinstance(item, str) else item
        if name not in allowed:
            extra = ''
            if name == 'tagged':
                extra = ' ("tagged" exists from the 1.19 charts)'
            raise InstallValuesError('%s: %s is not a verbose debug group for chart %s%s; allowed: %s'
                                     % (variable, _fmt(item), version.text, extra, ', '.join(allowed)))
        names.add(name)
    return ' '.join(sorted(names)) if names else None


def _bool(value, variable):
    if isinstance(value, bool):
        return value
    raise InstallValuesError('%s: %s is not a boolean; use true or false' % (variable, _fmt(value)))


def _config_string(value):
    """Render a cilium-config value the way the chart's ``quote`` does (booleans lower-case)."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if value is None:
        return ''
    return str(value)


def deep_merge(base, override):
    """Return ``base`` deep-merged with ``override`` (maps merge recursively, everything else is replaced)."""
    result = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _set_path(values, path, value):
    node = values
    parts = path.split('.')
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def kind_profile(version):
    """Values of the ``kind`` profile for that chart version (only keys that exist in that chart)."""
    settings = {
        'ipam.mode': 'kubernetes',
        'operator.replicas': 1,
        'image.pullPolicy': 'IfNotPresent',
        'image.useDigest': False,
        'operator.image.useDigest': False,
        'hubble.relay.image.useDigest': False,
        'envoy.image.useDigest': False,
    }
    values = {}
    for path, value in settings.items():
        if version.at_least(_KIND_KEYS_SINCE_MINOR[path]):
            _set_path(values, path, value)
    return values


def _sorted_dict(value):
    if isinstance(value, dict):
        return {key: _sorted_dict(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted_dict(item) for item in value]
    return value


def build_values(chart_version=DEFAULT_CHART_VERSION, profile='default', drop_events_enabled=True,
                 drop_events_interval=DEFAULT_INTERVAL, drop_events_reasons=DEFAULT_REASONS,
                 drop_events_extended=None, drop_events_rate_limit=None,
                 debug_enabled=False, debug_verbose=None, extra_values=None):
    """Return the normalised Helm values dict for the role inputs, or raise ``InstallValuesError``.

    ``drop_events_extended`` / ``drop_events_rate_limit``: ``None`` = automatic (on 1.19+: extended
    on, rate limit 0 = unlimited; before 1.19 the flags do not exist and nothing is emitted).
    """
    version = parse_chart_version(chart_version)
    if profile not in PROFILES:
        raise InstallValuesError('install_profile: %s is not a profile; allowed: %s' % (_fmt(profile), ', '.join(PROFILES)))
    enabled = _bool(drop_events_enabled, 'install_drop_events_enabled')
    parse_go_duration(drop_events_interval)
    reasons = normalise_reasons(drop_events_reasons, version)
    debug = _bool(debug_enabled, 'install_debug_enabled')
    verbose = normalise_verbose(debug_verbose, version)

    values = {
        'hubble': {
            'enabled': True,
            'relay': {'enabled': True},
            'ui': {'enabled': False},
            'dropEventEmitter': {
                'enabled': enabled,
                'interval': drop_events_interval.strip(),
                'reasons': reasons,
            },
        },
    }
    if verbose and not debug:
        raise InstallValuesError('install_debug_verbose: "%s" is set but install_debug_enabled is false; verbose groups log at debug '
                                 'level and show nothing without it: set install_debug_enabled: true or clear install_debug_verbose' % verbose)
    if debug:
        values['debug'] = {'enabled': True}
        if verbose:
            values['debug']['verbose'] = verbose

    extra_config = _emitter_extra_config(version, enabled, drop_events_extended, drop_events_rate_limit)
    if extra_config:
        values['extraConfig'] = extra_config
    if profile == 'kind':
        values = deep_merge(values, kind_profile(version))

    if extra_values is not None:
        if not isinstance(extra_values, dict):
            raise InstallValuesError('install_extra_values: %s is not a mapping of Helm values' % _fmt(extra_values))
        values = deep_merge(values, extra_values)
    _check_merged(values, version)
    if isinstance(values.get('extraConfig'), dict):
        values['extraConfig'] = {str(k): _config_string(v) for k, v in values['extraConfig'].items()}
    return _sorted_dict(values)


def _emitter_extra_config(version, enabled, extended, rate_limit):
    if not version.at_least(19):
        if extended is not None:
            raise InstallValuesError('install_drop_events_extended: %s is set but chart %s has no hubble-drop-events-extended flag '
                                     '(Cilium 1.19+); leave it unset (null) or use a 1.19+ chart' % (_fmt(extended), version.text))
        if rate_limit is not None:
            raise InstallValuesError('install_drop_events_rate_limit: %s is set but chart %s has no hubble-drop-events-rate-limit flag '
                                     '(Cilium 1.19+); leave it unset (null) or use a 1.19+ chart' % (_fmt(rate_limit), version.text))
        return {}
    if extended is None:
        extended = True
    extended = _bool(extended, 'install_drop_events_extended')
    if rate_limit is None:
        rate_limit = 0
    if isinstance(rate_limit, bool) or not isinstance(rate_limit, int) or rate_limit < 0:
        raise InstallValuesError('install_drop_events_rate_limit: %s is not a non-negative integer; use 0 (no limit, our default) or '
                                 'events per second (every flow consumes a token, so small values skip drop events on busy nodes)'
                                 % _fmt(rate_limit))
    if not enabled:
        return {}
    return {EXTENDED_KEY: _config_string(extended), RATE_LIMIT_KEY: str(rate_limit)}


def _check_merged(values, version):
    """Re-check what install_extra_values may have overridden: the emitter must stay functional."""
    hubble = values.get('hubble')
    if not isinstance(hubble, dict) or hubble.get('enabled') is not True:
        raise InstallValuesError('install_extra_values: hubble.enabled must stay true: the drop-event emitter is a hook of the agent\'s '
                                 'Hubble observer and emits nothing without it')
    relay = hubble.get('relay')
    if not isinstance(relay, dict) or relay.get('enabled') is not True:
        raise InstallValuesError('install_extra_values: hubble.relay.enabled must stay true: the role gates on the hubble-relay Deployment '
                                 'and the collectors read flows through Relay')
    emitter = hubble.get('dropEventEmitter')
    if not isinstance(emitter, dict):
        raise InstallValuesError('install_extra_values: hubble.dropEventEmitter must be a mapping; set the install_drop_events_* variables instead')
    _bool(emitter.get('enabled'), 'install_extra_values: hubble.dropEventEmitter.enabled')
    parse_go_duration(emitter.get('interval'), 'install_extra_values: hubble.dropEventEmitter.interval')
    emitter['reasons'] = normalise_reasons(emitter.get('reasons'), version, 'install_extra_values: hubble.dropEventEmitter.reasons')
    debug = values.get('debug')
    if isinstance(debug, dict) and debug.get('verbose') is not None:
        debug['verbose'] = normalise_verbose(debug['verbose'], version, 'install_extra_values: debug.verbose')
    if 'extraConfig' in values and not isinstance(values['extraConfig'], dict):
        raise InstallValuesError('install_extra_values: extraConfig must be a mapping of cilium-config keys to values')
