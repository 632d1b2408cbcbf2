#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module netobs.cilium.drop_events_info: collect Cilium PacketDrop Kubernetes Events."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: drop_events_info
short_description: Collect Cilium PacketDrop Kubernetes Events as drop evidence
version_added: 0.1.0
description:
  - Reads the Kubernetes Events that Cilium's Hubble drop event emitter writes for dropped packets
    (C(reason=PacketDrop), C(source.component=cilium), attached to the affected pod) and turns them into
    structured drops and aggregated violations.
  - Needs only C(list) (and C(watch) for O(wait_for)) on C(events), so it works on managed clusters where
    C(exec) into the Cilium agents is forbidden. See C(docs/rbac/events-reader.yml) in the collection.
  - Events are filtered on the API server (field selector C(reason=PacketDrop), plus the namespace when
    O(namespaces) is set) and read page by page with C(limit)/C(continue); they are parsed as raw JSON,
    never as client model objects, so hundreds of thousands of Events are fine.
  - Events are a sampled signal (one write per pod per emitter interval) and expire with the API server
    event TTL (C(--event-ttl), 1h by default). The result says what could not be seen
    (RV(coverage.ttl_warning), RV(partial)); use M(netobs.cilium.hubble_flows_info) for complete flows.
  - Reads saved C(kubectl get events -o json|yaml) output instead of a cluster with O(src).
author:
  - netobs.cilium contributors (@netobs)
requirements:
  - kubernetes >= 24.2.0 (Python client; not needed with O(src))
  - PyYAML (only to read YAML files with O(src))
options:
  reasons:
    description:
      - Only drops with these drop reasons (case-insensitive Cilium drop reason names such as
        V(policy_denied), V(POLICY_DENY), V(auth_required), or numeric DropReason codes).
      - A name that is not a Cilium drop reason is an error that suggests the closest names (V(policy-denied) -> V(policy_denied)).
      - Default is every reason.
    type: list
    elements: str
  api:
    description:
      - Which Events API to read.
      - V(auto) reads V(core/v1) (what Cilium writes) and falls back to V(events.k8s.io/v1) when core/v1
        Events are forbidden (HTTP 403) or not served (HTTP 404) for a scope.
      - V(events.k8s.io/v1) filters with the field selector C(regarding.namespace) (that API rejects C(involvedObject.*)).
    type: str
    default: auto
    choices: [auto, core/v1, events.k8s.io/v1]
  page_size:
    description:
      - Events per list request (C(limit)); larger pages mean fewer round trips, smaller pages less memory.
    type: int
    default: 500
  src:
    description:
      - Read Events from a file or a directory instead of the API (offline analysis).
      - Files contain C(kubectl get events -o json) or C(-o yaml) output; an C(EventList)/C(List), a plain list,
        a single Event, multi-document YAML and JSON lines are accepted, from both Events APIs.
      - C(kubectl get events -w -o json) output (pretty-printed objects back to back, also with
        C(--output-watch-events)) is accepted. A part that does not decode, such as the truncated last line of a
        capture stopped mid-write, is counted in RV(coverage.events_malformed) (with file and line) and the rest is
        read; a file where nothing decodes is an error naming the file.
      - Directories are read recursively (C(*.json), C(*.yaml), C(*.yml)).
      - Mutually exclusive with O(wait_for); connection options are ignored.
      - Items that are not Kubernetes Events (Hubble flows, table text) are counted in RV(coverage.not_understood).
        A src without any Event object fails the task unless O(allow_empty=true).
    type: path
  wait_for:
    description:
      - Wait until enough matching drops have been seen, then return; fail when O(wait_for.timeout) passes first.
      - Lists the existing Events first (they count), then watches for new and updated Events from the
        list's resourceVersion; a 410 Gone (watch too old) relists, with exponential backoff from the second
        relist in a row; after 5 relists in a row that watch gives up and the result is RV(partial).
        Relists are counted in RV(coverage.watch_relists).
      - Drops are counted as occurrences (an Event's C(count)), because Cilium updates one Event per pod.
    type: dict
    suboptions:
      min_count:
        description: Number of matching drop occurrences to wait for.
        type: int
        default: 1
      timeout:
        description:
          - Seconds to wait in total before failing; listing, paging and parsing the existing Events count
            against it too.
          - The overall O(timeout), when smaller, ends the wait as well.
        type: int
        default: 60
      direction:
        description: Drop direction relative to the pod the Event is attached to.
        type: str
        choices: [ingress, egress]
      reason:
        description: Drop reason name (case-insensitive), for example V(policy_denied); validated like O(reasons).
        type: str
      namespace:
        description: Namespace of the pod the Event is attached to.
        type: str
      pod:
        description: Name of the pod the Event is attached to (shell glob, for example V(nginx-*)).
        type: str
      peer_namespace:
        description: Namespace of the peer pod.
        type: str
      peer_pod:
        description: Name of the peer pod (shell glob).
        type: str
      peer_ip:
        description: IP address of the peer.
        type: str
      protocol:
        description: L4 protocol as rendered by Cilium (V(TCP), V(UDP), V(ICMPv4), V(ICMPv6), V(SCTP)), case-insensitive.
        type: str
      port:
        description: Destination port.
        type: int
  timeout:
    description:
      - Seconds the whole live collection may take (every list request and page, retries, the watch of
        O(wait_for) and the parsing).
      - When it runs out, the module returns what it collected so far with RV(partial=true), RV(timed_out=true)
        and a warning (with O(wait_for), an unsatisfied wait still fails).
      - Not used with O(src).
    type: int
    default: 300
extends_documentation_fragment:
  # ours first: earlier fragments win when attribute values are merged
  - netobs.cilium.module_attributes
  - netobs.cilium.module_attributes.read_only
  - netobs.cilium.common_options.namespaces
  - netobs.cilium.common_options.since
  - netobs.cilium.common_options.allow_empty
  - netobs.cilium.common_options.max_drops
  - netobs.cilium.common_options.max_violations
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
notes:
  - With O(namespaces), one namespaced list request is made per namespace, so a namespaced Role is enough; without it
    the list is cluster-wide (cluster-wide C(list) permission needed).
  - Cilium writes these Events only when the agent runs with C(hubble-drop-events=true)
    (Helm C(hubble.dropEventEmitter.enabled=true), Cilium >= 1.16) and the drop reason is in
    C(hubble.dropEventEmitter.reasons) (default C(auth_required), C(policy_denied); add C(policy_deny) for explicit deny rules).
seealso:
  - module: netobs.cilium.hubble_flows_info
  - module: kubernetes.core.k8s_info
"""

EXAMPLES = r"""
- name: Collect every PacketDrop Event in the cluster
  netobs.cilium.drop_events_info:
  register: drop_events

- name: Show the violations
  ansible.builtin.debug:
    var: drop_events.violations

- name: Policy drops of the last 30 minutes in two namespaces
  netobs.cilium.drop_events_info:
    kubeconfig: ~/.kube/config
    context: prod
    namespaces:
      - cni-test
      - payments
    since: 30m
    reasons:
      - policy_denied
      - policy_deny

- name: Read through events.k8s.io/v1 (Role grants only that API group)
  netobs.cilium.drop_events_info:
    api: events.k8s.io/v1
    namespaces:
      - cni-test

- name: Analyse a saved capture (kubectl get events -A -o json > events.json)
  netobs.cilium.drop_events_info:
    src: /var/tmp/captures/events.json
    max_drops: 0

- name: Wait until the netshot pod's egress to nginx on TCP/80 has been dropped
  netobs.cilium.drop_events_info:
    namespaces:
      - cni-test
    since: 5m
    wait_for:
      direction: egress
      namespace: cni-test
      pod: netshot
      peer_pod: nginx-*
      protocol: TCP
      port: 80
      min_count: 1
      timeout: 120
  register: denied

- name: Same connection settings for every netobs.cilium module
  module_defaults:
    group/netobs.cilium.cilium:
      kubeconfig: "{{ lookup('ansible.builtin.env', 'HOME') }}/.kube/config"
      context: kind-kind
  block:
    - name: PacketDrop Events of the last hour
      netobs.cilium.drop_events_info:
        since: 1h
      register: drops_last_hour
"""

RETURN = r"""
drops:
  description:
    - Individual drops parsed from the Events, at most O(max_drops) (first seen first).
    - Each is a Drop record of the collection's evidence model (direction, reason, the pod the Event is
      attached to, the peer, protocol, port, count, first/last seen, evidence reference).
  returned: always
  type: list
  elements: dict
drops_truncated:
  description: True when more drops matched than O(max_drops) allowed in RV(drops).
  returned: always
  type: bool
  sample: false
violations:
  description:
    - Drops aggregated per workload, peer, direction, protocol/port and reason (evidence model Violation records),
      largest count first, at most O(max_violations).
  returned: always
  type: list
  elements: dict
violations_total:
  description: Number of distinct violations found (before O(max_violations)).
  returned: always
  type: int
  sample: 4
violations_truncated:
  description: True when RV(violations) was cut to O(max_violations).
  returned: always
  type: bool
  sample: false
events_total:
  description: PacketDrop Events in scope (after O(namespaces) and O(since)), each Event object counted once.
  returned: always
  type: int
  sample: 6
unparsed:
  description: PacketDrop Events whose message did not match the known Cilium formats.
  returned: always
  type: dict
  contains:
    count:
      description: Number of such Events.
      type: int
    samples:
      description: Up to 5 examples (namespace, name, message).
      type: list
      elements: dict
coverage:
  description:
    - What the evidence covers (evidence model Coverage record) plus the time window actually seen.
  returned: always
  type: dict
  contains:
    oldest_event:
      description: First-seen time of the oldest PacketDrop Event read (RFC 3339), null if none.
      type: str
    newest_event:
      description: Last-seen time of the newest PacketDrop Event read (RFC 3339), null if none.
      type: str
    since:
      description: The resolved O(since) as RFC 3339, null if not set.
      type: str
    watch_relists:
      description:
        - Times a O(wait_for) watch had to relist because its resourceVersion expired (HTTP 410 Gone).
      type: int
    ttl_warning:
      description:
        - Set when Events may have expired from the API server (event TTL, 1h by default) inside the requested window,
          or when no O(since) was given; null otherwise and for O(src).
      type: str
    events_malformed:
      description:
        - Items that are not readable PacketDrop Events (not an object, or fields of the wrong type such as a uid
          that is a list or a timestamp that is a number), plus undecodable parts of O(src) files. They are
          counted here, never fatal.
      type: int
    events_malformed_samples:
      description: Up to 10 of them, each with C(namespace), C(name), C(file), C(line) (when known) and C(error) naming the bad field.
      type: list
      elements: dict
    not_understood:
      description:
        - Items read but not understood - not Kubernetes Events, malformed PacketDrop Events, PacketDrop messages outside
          the known grammar (see docs/drop-model.md). Anything above 0 makes the report's coverage incomplete.
      type: int
    not_understood_samples:
      description: Up to 5 descriptions of items that are not Kubernetes Events.
      type: list
      elements: str
    empty:
      description: True when O(allow_empty) accepted a O(src) without any Kubernetes Event.
      type: bool
    counts_approximate:
      description:
        - True when more distinct Events were seen than are tracked exactly (100 000); counts are then lower bounds that
          can only under-count.
      type: bool
wait:
  description: Outcome of O(wait_for).
  returned: when O(wait_for) is set
  type: dict
  contains:
    satisfied:
      description: Whether O(wait_for.min_count) matching drops were seen in time.
      type: bool
    waited_seconds:
      description: Seconds spent, from the start of the listing until satisfied or timed out.
      type: float
    matched:
      description: Matching drop occurrences seen (sum of the matching Events' counts).
      type: int
    matched_events:
      description: Matching Event objects seen.
      type: int
    min_count:
      description: The requested O(wait_for.min_count).
      type: int
    criteria:
      description: The criteria that were applied.
      type: dict
partial:
  description:
    - True when the results may be incomplete (a page failed after retries, a watch could not be resumed).
      RV(partial_reasons) says why.
  returned: always
  type: bool
  sample: false
partial_reasons:
  description: Why RV(partial) is true.
  returned: always
  type: list
  elements: str
timed_out:
  description: True when O(timeout) (or O(wait_for.timeout)) ran out before the collection was complete (RV(partial) is then true).
  returned: always
  type: bool
  sample: false
excluded:
  description: Events read but left out, per cause (C(before_since), C(reasons), C(namespaces), C(other_reasons)).
  returned: always
  type: dict
api_used:
  description: The Events API that was read (V(core/v1) or V(events.k8s.io/v1)); null with O(src).
  returned: always
  type: raw
  sample: core/v1
api_requests:
  description: HTTP requests sent to the Kubernetes API (retries included); 0 with O(src).
  returned: always
  type: int
  sample: 1
"""

from ansible_collections.netobs.cilium.plugins.module_utils.module_support import arg_specs
from ansible_collections.netobs.cilium.plugins.module_utils.module_support.base import NetobsModule
from ansible_collections.netobs.cilium.plugins.module_utils.sources.events import collector as drop_events
from ansible_collections.netobs.cilium.plugins.module_utils.report import collect as pipeline


def argument_spec():
    """Module options: kubernetes.core auth options, the shared options, ours."""
    return arg_specs.build(
        ('namespaces', 'since', 'src', 'allow_empty', 'max_drops', 'max_violations'),
        reasons=dict(type='list', elements='str'),
        api=dict(type='str', default='auto', choices=['auto', 'core/v1', 'events.k8s.io/v1']),
        page_size=dict(type='int', default=500),
        timeout=dict(type='int', default=drop_events.DEFAULT_TIMEOUT),
        wait_for=dict(
            type='dict',
            options=dict(
                min_count=dict(type='int', default=1),
                timeout=dict(type='int', default=60),
                direction=dict(type='str', choices=['ingress', 'egress']),
                reason=dict(type='str'),
                namespace=dict(type='str'),
                pod=dict(type='str'),
                peer_namespace=dict(type='str'),
                peer_pod=dict(type='str'),
                peer_ip=dict(type='str'),
                protocol=dict(type='str'),
                port=dict(type='int'),
            ),
        ),
    )


def main():
    """Entry point."""
    module = NetobsModule(argument_spec(), mutually_exclusive=[('src', 'wait_for')], doing='collecting PacketDrop events')
    params = module.params
    options = dict(
        namespaces=params['namespaces'],
        since=params['since'],
        reasons=params['reasons'],
        api_version=params['api'],
        page_size=params['page_size'],
        max_drops=params['max_drops'],
        max_violations=params['max_violations'],
        wait_for=params['wait_for'],
        allow_empty=params['allow_empty'],
    )
    if not params['src']:
        options['timeout'] = params['timeout']
        module.require_kubernetes()

    def body():
        drop_events.DropEventsCollector(**options)  # bad options fail here, before connecting
        api = None if params['src'] else module.kube_api()
        result, collector = pipeline.drop_events(api=api, src=params['src'], **options)
        for warning in collector.warnings:
            module.warn(warning)
        ttl_warning = result['coverage'].get('ttl_warning')
        if ttl_warning and params['since']:
            module.warn(ttl_warning)
        return dict(changed=False, **result)

    module.run(body, (drop_events.DropEventsError, lambda exc: dict(msg=str(exc), changed=False, **exc.result)))


if __name__ == '__main__':
    main()
