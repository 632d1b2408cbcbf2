#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module netobs.cilium.hubble_flows_info: collect Hubble flows as drop evidence."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: hubble_flows_info
short_description: Collect Cilium Hubble flows (dropped packets and their policy verdicts) as drop evidence
version_added: 0.1.0
description:
  - Reads Hubble flows and turns them into structured drops and aggregated violations (the same shapes as
    M(netobs.cilium.drop_events_info)), with what the collection could not see (nodes that did not answer,
    events lost in the ring buffers, malformed lines).
  - O(transport=relay) asks Hubble Relay over gRPC (C(observer.Observer/GetFlows)); the filters are sent to Relay
    so only matching flows cross the wire, and Relay covers every node. O(relay_address=auto) reaches Relay
    through a port-forward to the C(hubble-relay) Service via the Kubernetes API (no network path to the cluster needed).
  - O(transport=exec) runs C(hubble observe --output jsonpb) (an argv list, never a shell) in the C(cilium-agent)
    container of B(every) running Cilium agent pod (C(k8s-app=cilium)); each agent only knows its own node, so a
    single C(kubectl exec ds/cilium) would miss the other nodes. Agents that do not answer are reported in
    RV(nodes.unavailable) and make the result RV(partial).
  - O(transport=file) reads saved C(hubble observe -o json) / C(-o jsonpb) output (a file or a directory, gzip
    accepted) and applies the same filters locally.
  - Read-only; never changes the cluster.
author:
  - netobs.cilium contributors (@netobs)
requirements:
  - grpcio and protobuf >= 7.35.1, < 8 (O(transport=relay))
  - kubernetes >= 24.2.0 (Python client; for O(relay_address=auto) and O(transport=exec))
  - websocket-client (port-forward and exec through the Kubernetes API)
options:
  transport:
    description:
      - How flows are read. V(relay) (Hubble Relay gRPC), V(exec) (C(hubble observe) in every agent pod) or
        V(file) (saved captures from O(src)).
      - Default is V(file) when O(src) is given, else V(relay). O(src) with V(relay) or V(exec) is an error.
    type: str
    choices: [relay, exec, file]
  relay_address:
    description:
      - Hubble Relay gRPC address as C(host:port), for example V(127.0.0.1:4245) after
        C(kubectl -n kube-system port-forward svc/hubble-relay 4245:80).
      - V(auto) reads Service C(hubble-relay) in O(cilium_namespace), picks a Ready pod behind its selector,
        resolves the target port (a named C(grpc) port to the container port) and port-forwards to it through the
        Kubernetes API. The task fails with a clear message when the Service does not exist (Relay not enabled).
    type: str
    default: auto
  relay_tls:
    description:
      - Connect to Relay with TLS (Helm C(hubble.relay.tls.server.enabled=true); the Service then listens on 443).
      - The Relay certificate is issued for C(*.hubble-relay.cilium.io); with O(relay_address=auto) and no
        O(relay_server_name), V(ui.hubble-relay.cilium.io) is checked.
    type: bool
    default: false
  relay_ca_cert:
    description:
      - PEM file with the CA that signed the Relay server certificate (Helm secret C(hubble-relay-server-certs),
        key C(ca.crt)). Default is the system trust store.
      - Not the O(ca_cert) of the Kubernetes API connection.
    type: path
  relay_client_cert:
    description:
      - PEM client certificate for mutual TLS (Helm C(hubble.relay.tls.server.mtls=true)). Needs O(relay_client_key).
    type: path
  relay_client_key:
    description: PEM private key of O(relay_client_cert).
    type: path
  relay_server_name:
    description:
      - Name expected in the Relay certificate (TLS SNI and hostname check), for example V(ui.hubble-relay.cilium.io),
        when it differs from the host in O(relay_address).
    type: str
    aliases: [server_name]
  relay_validate_certs:
    description:
      - Verify the Relay server certificate (CA and name).
      - V(false) skips B(both) checks; the connection is still encrypted, and a client certificate is still
        presented for mTLS, but the server is not authenticated (O(relay_ca_cert) and O(relay_server_name) are
        ignored). A warning says so.
      - Independent of O(validate_certs), which is about the Kubernetes API.
    type: bool
    default: true
  src:
    description:
      - Capture file or directory for O(transport=file) (C(hubble observe -o jsonpb) output, one JSON object per line;
        C(*.json), C(*.jsonl), C(*.txt), C(*.gz) files of a directory are read in name order).
      - Lines that are not Hubble records (compact C(hubble observe) text, Events, garbage) are counted in RV(malformed) and
        RV(coverage.not_understood). A src without any Hubble record fails the task unless O(allow_empty=true).
    type: path
  verdicts:
    description:
      - Flow verdicts to collect (case-insensitive) - V(DROPPED), V(AUDIT) (policy audit mode, would have been dropped),
        V(FORWARDED), V(ERROR), V(REDIRECTED), V(TRACED), V(TRANSLATED).
      - An empty list collects every verdict.
    type: list
    elements: str
    default: [DROPPED]
  from_pods:
    description:
      - Only flows from these pods, as C(namespace/pod-name-prefix) (V(cni-test/netshot)), C(namespace/) (whole
        namespace) or C(/prefix) (any namespace).
      - A name without a namespace means the C(default) namespace, as in Hubble (V(netshot) is V(default/netshot));
        to match any namespace write V(/netshot).
    type: list
    elements: str
  to_pods:
    description: Only flows to these pods (same forms as O(from_pods)).
    type: list
    elements: str
  from_labels:
    description:
      - Only flows whose source matches one of these Kubernetes label selectors (V(run=netshot), V(app in (a,b)),
        V(k8s:app=nginx,tier!=db)); a key without a source prefix matches any Cilium label source.
    type: list
    elements: str
  to_labels:
    description: Only flows whose destination matches one of these label selectors.
    type: list
    elements: str
  drop_reasons:
    description:
      - Only flows with these drop reasons (Hubble DropReason names, case-insensitive), for example V(POLICY_DENIED)
        (no allow rule), V(POLICY_DENY) (explicit deny rule), V(AUTH_REQUIRED).
    type: list
    elements: str
  until:
    description:
      - Only flows at or before this time (same forms as O(since)). Not with O(follow_for).
      - Without O(since), O(until) and O(last), everything still in the ring buffers is read.
    type: str
  last:
    description:
      - Only the last N matching flows B(of each node) (Hubble semantics). Not with O(since)/O(until).
    type: int
  follow_for:
    description:
      - Keep collecting new flows for this many seconds, then return (for example while a test generates traffic).
      - Relay streams them live; with O(transport=exec) the module waits, then reads the window from every agent
        (flows overwritten meanwhile in a busy ring buffer show up as RV(lost_events)).
    type: float
  timeout:
    description:
      - Seconds the whole live call may take (plus O(follow_for)), covering Kubernetes API requests (Relay Service lookup,
        port-forward, agent pod list), the Relay stream (gRPC deadline) and the C(hubble observe) of every agent pod
        together (O(transport=exec); each exec gets what is left, rounded up to whole seconds, at most O(timeout)).
      - When it runs out, the module returns the flows received so far with RV(partial=true), RV(timed_out=true) and a
        warning; agent pods not queried in time are listed in RV(nodes.unavailable). Not used with O(transport=file).
    type: int
    default: 30
extends_documentation_fragment:
  # ours first: earlier fragments win when attribute values are merged
  - netobs.cilium.module_attributes
  - netobs.cilium.module_attributes.read_only
  - netobs.cilium.common_options.cilium_namespace
  - netobs.cilium.common_options.namespaces
  - netobs.cilium.common_options.since
  - netobs.cilium.common_options.allow_empty
  - netobs.cilium.common_options.max_drops
  - netobs.cilium.common_options.max_violations
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
notes:
  - O(namespaces) is sent as two filters, C(source_pod) and C(destination_pod) C(ns/) prefixes, like
    C(hubble observe --namespace).
  - Kubernetes API connection options (O(kubeconfig), O(context), O(host), O(api_key), O(ca_cert), O(client_cert),
    O(client_key), O(validate_certs), ... and the C(K8S_AUTH_*) variables) are only used for O(relay_address=auto) and
    O(transport=exec). The Relay TLS options are the C(relay_*) ones.
  - "RBAC: O(relay_address=auto) needs C(get) on services, C(list) on pods and C(create)/C(get) on pods/portforward in
    O(cilium_namespace); O(transport=exec) needs C(list) on pods and C(create)/C(get) on pods/exec there. See
    C(docs/rbac/hubble-relay-portforward.yml) and C(docs/rbac/hubble-exec.yml) in the collection."
  - Hubble keeps a bounded ring buffer per node (4095 flows by default); older flows are gone. Lost events reported by
    Hubble are returned in RV(lost_events).
seealso:
  - module: netobs.cilium.drop_events_info
"""

EXAMPLES = r"""
- name: Dropped flows of the last 15 minutes through Hubble Relay (port-forward through the API)
  netobs.cilium.hubble_flows_info:
    since: 15m
  register: flows

- name: Policy drops in one namespace, from the netshot pod to nginx
  netobs.cilium.hubble_flows_info:
    namespaces:
      - cni-test
    from_labels:
      - run=netshot
    to_pods:
      - cni-test/nginx-
    drop_reasons:
      - POLICY_DENIED
      - POLICY_DENY

- name: Relay reachable directly, TLS with the Relay CA
  netobs.cilium.hubble_flows_info:
    relay_address: hubble-relay.example.internal:443
    relay_tls: true
    relay_ca_cert: /etc/netobs/hubble-relay-ca.crt
    relay_server_name: ui.hubble-relay.cilium.io

- name: Relay with mutual TLS (hubble.relay.tls.server.mtls=true)
  netobs.cilium.hubble_flows_info:
    relay_address: 127.0.0.1:4245
    relay_tls: true
    relay_ca_cert: /etc/netobs/hubble-relay-ca.crt
    relay_client_cert: /etc/netobs/hubble-client.crt
    relay_client_key: /etc/netobs/hubble-client.key
    relay_server_name: ui.hubble-relay.cilium.io

- name: No Relay - run hubble observe in every Cilium agent pod
  netobs.cilium.hubble_flows_info:
    transport: exec
    cilium_namespace: kube-system
    last: 500
  register: flows

- name: Fail when an agent did not answer
  ansible.builtin.assert:
    that:
      - not flows.partial
    fail_msg: "Nodes without data: {{ flows.nodes.unavailable }}"

- name: Analyse a saved capture (hubble observe --all -o jsonpb > flows.jsonl)
  netobs.cilium.hubble_flows_info:
    transport: file
    src: /var/tmp/captures/flows.jsonl
    max_drops: 0

- name: Flows for a compliance report - every violation, so the report can judge them all
  netobs.cilium.hubble_flows_info:
    since: 1h
    max_violations: 0
  register: report_flows

- name: Policy audit mode - what would have been dropped
  netobs.cilium.hubble_flows_info:
    verdicts:
      - AUDIT
    since: 1h

- name: Watch for 30 seconds while a probe runs
  netobs.cilium.hubble_flows_info:
    namespaces:
      - cni-test
    follow_for: 30

- name: Same connection settings for every netobs.cilium module
  module_defaults:
    group/netobs.cilium.cilium:
      kubeconfig: "{{ lookup('ansible.builtin.env', 'HOME') }}/.kube/config"
      context: kind-kind
  block:
    - name: Dropped flows through Relay
      netobs.cilium.hubble_flows_info:
        since: 1h
      register: relay_flows
"""

RETURN = r"""
drops:
  description:
    - Individual matching flows as Drop records of the collection's evidence model (time, node, direction, verdict,
      reason, protocol, port, source/destination endpoints with labels and identities, policies named by the flow,
      evidence reference with the flow uuid), at most O(max_drops), in stream order.
  returned: always
  type: list
  elements: dict
drops_truncated:
  description: True when more flows matched than O(max_drops) allowed in RV(drops).
  returned: always
  type: bool
  sample: false
violations:
  description:
    - Drops aggregated per direction, source workload, destination, protocol/port and reason (evidence model Violation
      records), largest count first, at most O(max_violations). A policy-verdict flow and the drop flow of the same
      packet count once.
  returned: always
  type: list
  elements: dict
violations_total:
  description: Number of distinct violations found (before O(max_violations)).
  returned: always
  type: int
  sample: 4
violations_truncated:
  description:
    - True when RV(violations) was cut to O(max_violations). M(netobs.cilium.violation_report) then reports the evidence
      as incomplete; give O(max_violations=0) to the collections a report reads.
  returned: always
  type: bool
  sample: false
flows_total:
  description: Matching flows received (after the filters), including those beyond O(max_drops).
  returned: always
  type: int
  sample: 7
timed_out:
  description: True when O(timeout) ran out before the collection was complete (RV(partial) is then true).
  returned: always
  type: bool
  sample: false
nodes:
  description: Which nodes answered.
  returned: always
  type: dict
  contains:
    seen:
      description: Nodes that answered (Relay C(NODE_CONNECTED), agents whose C(hubble observe) succeeded) or appear in the data.
      type: list
      elements: str
    expected:
      description:
        - Nodes that should have answered (Relay's node list, the nodes of the agent pods). Empty for O(transport=file).
      type: list
      elements: str
    unavailable:
      description: Nodes that did not answer, each with C(name), C(pod) (exec) and C(reason).
      type: list
      elements: dict
lost_events:
  description: Events Hubble reported as lost (ring buffer or queue overflow) - flows that were never seen.
  returned: always
  type: dict
  contains:
    total:
      description: Sum of C(num_events_lost).
      type: int
    by_source:
      description: Per source (C(HUBBLE_RING_BUFFER), C(OBSERVER_EVENTS_QUEUE), C(PERF_EVENT_RING_BUFFER)).
      type: dict
    by_node:
      description: Per node.
      type: dict
malformed:
  description: Lines or records that could not be decoded.
  returned: always
  type: dict
  contains:
    count:
      description: How many.
      type: int
    lines:
      description: Line numbers of the first ones (per input).
      type: list
      elements: int
    samples:
      description: File (or C(exec:<ns>/<pod>)), line and error of the first ones.
      type: list
      elements: dict
coverage:
  description:
    - What the evidence covers (evidence model Coverage record - lines read, flows, drops, lost events, node status,
      time span seen) plus C(transport), C(since) and C(until) (resolved, RFC 3339).
  returned: always
  type: dict
  contains:
    not_understood:
      description:
        - Input elements read but not understood (malformed lines, JSON that is no Hubble record). Anything above 0
          makes the report's coverage incomplete (see docs/drop-model.md).
      type: int
    skipped_other_verdicts:
      description: Lines skipped without decoding - complete JSON objects naming a verdict that was not requested.
      type: int
    empty:
      description: True when O(allow_empty) accepted a O(src) without any Hubble record.
      type: bool
aggregation:
  description: Aggregation counters (C(drops_in), C(pairs_collapsed), ...).
  returned: always
  type: dict
partial:
  description: True when some of the data could not be read (a node or agent did not answer). See RV(partial_reasons).
  returned: always
  type: bool
  sample: false
partial_reasons:
  description: Why RV(partial) is true.
  returned: always
  type: list
  elements: str
query:
  description: The effective query (normalised filters, resolved times).
  returned: always
  type: dict
filters:
  description: The Hubble FlowFilters that were sent (Relay whitelist, C(hubble observe --allowlist)) or applied locally.
  returned: always
  type: list
  elements: dict
transport:
  description: The transport used.
  returned: always
  type: str
  sample: relay
relay_address:
  description: The Relay address used (for V(auto), the Service, pod and port that were port-forwarded).
  returned: when O(transport=relay)
  type: str
argv:
  description: The C(hubble observe) command run in every agent pod.
  returned: when O(transport=exec)
  type: list
  elements: str
api_requests:
  description: Requests sent to the Kubernetes API (retries included).
  returned: when the Kubernetes API was used
  type: int
"""

from ansible_collections.netobs.cilium.plugins.module_utils.module_support import arg_specs
from ansible_collections.netobs.cilium.plugins.module_utils.module_support.base import NetobsModule
from ansible_collections.netobs.cilium.plugins.module_utils.sources.hubble import relay as hubble_relay
from ansible_collections.netobs.cilium.plugins.module_utils.report import collect as pipeline


def argument_spec():
    """Module options: kubernetes.core auth options, the shared options, ours."""
    return arg_specs.build(
        ('cilium_namespace', 'src', 'allow_empty', 'namespaces', 'since', 'max_drops', 'max_violations'),
        transport=dict(type='str', choices=['relay', 'exec', 'file']),
        relay_address=dict(type='str', default='auto'),
        relay_tls=dict(type='bool', default=False),
        relay_ca_cert=dict(type='path'),
        relay_client_cert=dict(type='path'),
        relay_client_key=dict(type='path', no_log=False),
        relay_server_name=dict(type='str', aliases=['server_name']),
        relay_validate_certs=dict(type='bool', default=True),
        verdicts=dict(type='list', elements='str', default=['DROPPED']),
        from_pods=dict(type='list', elements='str'),
        to_pods=dict(type='list', elements='str'),
        from_labels=dict(type='list', elements='str'),
        to_labels=dict(type='list', elements='str'),
        drop_reasons=dict(type='list', elements='str'),
        until=dict(type='str'),
        last=dict(type='int'),
        follow_for=dict(type='float'),
        timeout=dict(type='int', default=30),
    )


def _hubble_failure(module):
    def failure(exc):
        extra = {'api_requests': module.api.request_count} if module.api is not None else {}
        if exc.code:
            extra['grpc_status'] = exc.code
        return dict(msg=str(exc), **extra)
    return failure


def main():
    """Entry point."""
    module = NetobsModule(argument_spec(), required_if=[('transport', 'file', ('src',))],
                          required_together=[('relay_client_cert', 'relay_client_key')], doing='collecting Hubble flows')
    params = module.params
    transport = params['transport'] or ('file' if params['src'] else 'relay')
    if params['src'] and transport != 'file':
        module.fail_json(msg='src is a saved capture and is only read with transport: file, but transport is %s; remove src to read '
                             'flows live, or remove transport (src implies file)' % transport)
    uses_api = transport == 'exec' or (transport == 'relay' and params['relay_address'] == 'auto')
    if transport == 'relay':
        missing = hubble_relay.missing_libraries()
        module.require(' and '.join(missing), not missing, hubble_relay.GRPC_IMPORT_ERROR or hubble_relay.pb.PROTOBUF_IMPORT_ERROR)
    if uses_api:
        module.require_kubernetes()

    def body():
        tls = None
        if transport == 'relay':
            tls = hubble_relay.TLSOptions(enabled=params['relay_tls'], ca_cert=params['relay_ca_cert'],
                                          client_cert=params['relay_client_cert'], client_key=params['relay_client_key'],
                                          server_name=params['relay_server_name'], validate_certs=params['relay_validate_certs'])
        api = module.kube_api() if uses_api else None
        result, collection = pipeline.hubble_flows(
            transport=transport, api=api, src=params['src'], allow_empty=params['allow_empty'], relay_address=params['relay_address'],
            cilium_namespace=params['cilium_namespace'], tls=tls, timeout=params['timeout'], max_drops=params['max_drops'],
            max_violations=params['max_violations'],
            verdicts=params['verdicts'], namespaces=params['namespaces'], from_pods=params['from_pods'], to_pods=params['to_pods'],
            from_labels=params['from_labels'], to_labels=params['to_labels'], drop_reasons=params['drop_reasons'],
            since=params['since'], until=params['until'], last=params['last'], follow_for=params['follow_for'])
        for warning in collection.warnings:
            module.warn(warning)
        return dict(changed=False, **result)

    module.run(body, (hubble_relay.HubbleError, _hubble_failure(module)))


if __name__ == '__main__':
    main()
