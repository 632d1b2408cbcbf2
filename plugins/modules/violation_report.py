#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module netobs.cilium.violation_report: judge drop evidence against expectations and write compliance reports."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: violation_report
short_description: Judge drop evidence against expectations and write compliance reports (JSON, JUnit, Markdown, HTML)
version_added: 0.1.0
description:
  - Merges the violations of several M(netobs.cilium.drop_events_info) and M(netobs.cilium.hubble_flows_info) results
    (by violation key), attributes each one to the policies and rules responsible (with a policy snapshot), judges
    expectations (C(expect=deny|allow)) and writes a versioned report in up to four formats under O(dest).
  - "Verdicts per expectation: C(control_proven) (expected deny observed, pass), C(control_unproven) (expected deny not
    observed, fail), C(outage_risk) (expected allow dropped, or predicted denied by the current policies, fail),
    C(unexpected_allow) (allowed flows or probes show traffic that must be denied, fail), C(allow_observed) and
    C(allow_not_contradicted) (pass). A violation that matches no expectation is C(unreviewed) and counts as unexpected."
  - The report says what the run could not see (coverage) - sampled and expiring PacketDrop Events, Hubble lost events,
    unavailable nodes, malformed input, partial collections.
  - Files are only rewritten when their content changes; the generation time is kept out of the content hash, so a
    second run over the same evidence reports C(changed=false). Check mode writes nothing and returns RV(would_write).
  - With O(rollup), reads several JSON reports instead and writes a fleet roll-up (cluster x verdict) as JSON, Markdown and HTML.
author:
  - netobs.cilium contributors (@netobs)
requirements:
  - PyYAML (expectations and snapshot files in YAML)
  - kubernetes >= 24.2.0 (Python client; only for O(snapshot_live))
options:
  evidence:
    description:
      - Registered results of M(netobs.cilium.drop_events_info) and M(netobs.cilium.hubble_flows_info).
      - Their C(violations) are merged by key; their C(drops) provide evidence samples, labels and, for results collected
        with C(verdicts) such as V(FORWARDED), the allowed traffic that can contradict a C(deny) expectation
        (policy-verdict flows only, so replies are never counted).
      - Skipped results are ignored; failed results are listed in the coverage notes.
    type: list
    elements: dict
    default: []
  snapshot:
    description:
      - Policy snapshot as Kubernetes objects - a C(List), or a mapping of lists of objects (for example with keys
        C(namespaces), C(pods) and C(policies)) - of Namespaces, Pods, Nodes, ReplicaSets, NetworkPolicies,
        CiliumNetworkPolicies and CiliumClusterwideNetworkPolicies.
      - Mutually exclusive with O(snapshot_src) and O(snapshot_live).
    type: dict
  snapshot_src:
    description:
      - Files or directories with saved C(kubectl get ... -o yaml|json) output of the same object kinds as O(snapshot).
    type: list
    elements: path
  snapshot_live:
    description:
      - Read the snapshot from the cluster through the Kubernetes API (the kubernetes.core connection options apply).
      - Needs C(list) on namespaces, pods and networkpolicies; nodes, replicasets and the Cilium policy CRDs are read when allowed.
    type: bool
    default: false
  snapshot_namespaces:
    description: With O(snapshot_live), read pods, ReplicaSets and namespaced policies of these namespaces only.
    type: list
    elements: str
  expectations:
    description:
      - Expectations as a list of entries (C(name), C(from), C(to), C(port), C(protocol), C(expect), C(controls),
        C(description)); see C(docs/expectations.md).
      - Mutually exclusive with O(expectations_file).
    type: list
    elements: dict
  expectations_file:
    description: YAML or JSON expectations file (C(schema_version) and C(expectations)).
    type: path
  probes:
    description:
      - Connection probe results, each C({name, from, to, port, protocol, outcome}) with C(outcome) V(allowed) or V(denied)
        (or C(succeeded) true/false). An item with a C(probes) list (such as C(cni_test_result)) is expanded.
      - A successful probe of traffic that must be denied is an C(unexpected_allow); a failed probe of traffic that must be
        allowed is an C(outage_risk).
    type: list
    elements: raw
  baseline:
    description:
      - A previous JSON report of the same cluster. The report then lists new, resolved and persisting violations and
        expectation verdict changes. A missing file gives a warning and no diff (the first scheduled run).
      - It may be the JSON report this task rewrites; it is read before anything is written.
    type: path
  cluster:
    description: Name of the cluster in the report.
    type: str
    default: default
  dest:
    description: Directory the reports are written to (created when missing).
    type: path
    required: true
  basename:
    description: File name without extension; defaults to V(compliance) (reports) or V(fleet) (roll-ups).
    type: str
  formats:
    description:
      - Formats to write - V(json) (C(<basename>.json)), V(junit) (C(<basename>.junit.xml)), V(markdown) (C(<basename>.md)),
        V(html) (C(<basename>.html), self-contained, no JavaScript). Roll-ups ignore V(junit).
    type: list
    elements: str
    choices: [json, junit, markdown, html]
    default: [json, junit, markdown, html]
  fail_on:
    description:
      - V(none) never fails on findings. V(unexpected) fails when there are outage risks, unexpected allows or unreviewed
        violations. V(any) also fails on unproven controls. The reports are written before the task fails.
    type: str
    choices: [none, unexpected, any]
    default: none
  other_drops:
    description:
      - Drops whose reason is not a network-policy verdict (anything but C(POLICY_DENIED), C(POLICY_DENY), C(AUTH_REQUIRED),
        e.g. C(UNSUPPORTED_L3_PROTOCOL) for IPv6 solicitations when IPv6 is disabled in Cilium) are never violations; every
        format lists them under "Other drops (not policy verdicts)" with counts per reason and per peer.
      - V(report) shows them without changing the verdict (O(fail_on=any) does not fail on them either).
        V(fail) makes each one a failing, unexpected finding, so O(fail_on=unexpected) and O(fail_on=any) fail on them.
      - Drops without a reason or with a reason this collection does not know are judged as violations (they might be
        policy verdicts of a newer Cilium).
    type: str
    choices: [report, fail]
    default: report
  emitter_interval:
    description: The emitter interval of the cluster (C(hubble.dropEventEmitter.interval)), stated in the sampling note.
    type: str
  event_ttl:
    description: The API server event TTL (C(--event-ttl)), stated in the coverage notes.
    type: str
    default: 1h
  max_evidence:
    description: Evidence samples kept per violation (1-50).
    type: int
    default: 5
  max_findings:
    description: Findings returned in RV(findings) (the reports always hold all of them).
    type: int
    default: 20
  rollup:
    description:
      - JSON reports to roll up into one fleet view (cluster x verdict, expectation x cluster). When set, O(evidence),
        snapshots, expectations, probes and O(baseline) must not be given.
    type: list
    elements: path
  rollup_failed:
    description:
      - Clusters of the fleet whose run failed or wrote no report (unreachable, a task failed, no JSON report). Each one is
        a failed row of the roll-up with its error and counts in its totals, so a fleet is never green because a cluster is missing.
      - Roll-up mode only (together with O(rollup), or alone when no cluster reported).
    type: list
    elements: dict
    suboptions:
      cluster:
        description: Name of the cluster.
        type: str
        required: true
      error:
        description: Why it did not report (the failed task and its message).
        type: str
      report:
        description: The report path that was expected.
        type: path
extends_documentation_fragment:
  # ours first: earlier fragments win when attribute values are merged
  - netobs.cilium.module_attributes
  - kubernetes.core.k8s_auth_options
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.actiongroups
attributes:
  check_mode:
    support: full
    details: Nothing is written; RV(would_write) lists the files that would change.
notes:
  - The connection options are only used with O(snapshot_live).
  - Reports contain pod, namespace and policy names and IP addresses of the cluster; store them accordingly.
seealso:
  - module: netobs.cilium.drop_events_info
  - module: netobs.cilium.hubble_flows_info
"""

EXAMPLES = r"""
- name: Collect PacketDrop Events
  netobs.cilium.drop_events_info:
    since: 1h
  register: events

- name: Collect dropped Hubble flows through Relay
  netobs.cilium.hubble_flows_info:
    since: 1h
  register: flows

- name: Write the compliance reports, fail on anything unexpected
  netobs.cilium.violation_report:
    evidence:
      - "{{ events }}"
      - "{{ flows }}"
    snapshot_live: true
    expectations_file: expectations.yml
    baseline: reports/prod/compliance.json
    cluster: prod
    dest: reports/prod
    emitter_interval: 5s
    fail_on: unexpected

- name: Offline report from saved files
  netobs.cilium.violation_report:
    evidence: ["{{ events }}"]
    snapshot_src: [capture/namespaces.yml, capture/pods.yml, capture/policies.yml]
    expectations:
      - name: netshot-cannot-reach-nginx
        from: cni-test/netshot
        to: cni-test/nginx
        port: 80
        expect: deny
        controls: [CIS-5.3.2]
    cluster: kind
    dest: reports/kind
    formats: [json, markdown]

- name: Fleet roll-up
  netobs.cilium.violation_report:
    rollup:
      - reports/prod/compliance.json
      - reports/staging/compliance.json
    dest: reports
"""

RETURN = r"""
verdict:
  description: V(pass) when nothing fails, else V(fail).
  returned: always
  type: str
  sample: pass
summary:
  description:
    - Counts of the report (C(verdict), C(failing), C(unexpected), C(violations), C(expectations), C(coverage_complete),
      C(baseline), C(other_drops) - C(total) entries, C(count) drops, C(fail)); for roll-ups C(clusters), C(passed), C(failed), C(unexpected).
  returned: always
  type: dict
reports:
  description: Path of each report per format.
  returned: always
  type: dict
  sample: {json: reports/kind/compliance.json, html: reports/kind/compliance.html}
written:
  description: Files written by this run (empty in check mode and when nothing changed).
  returned: always
  type: list
  elements: str
would_write:
  description: Files whose content differs from what is on disk (what a real run writes; also set outside check mode).
  returned: always
  type: list
  elements: str
content_hash:
  description: sha256 of the report content without its generation time.
  returned: always
  type: str
findings:
  description: Failing items, bounded by O(max_findings) (type, name, verdict, category, controls, explanation).
  returned: always
  type: list
  elements: dict
findings_truncated:
  description: True when more findings exist than RV(findings) holds.
  returned: always
  type: bool
coverage_notes:
  description: What the run could not see, in plain language (reports only).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.netobs.cilium.plugins.module_utils.module_support import arg_specs
from ansible_collections.netobs.cilium.plugins.module_utils.module_support.base import NetobsModule, message
from ansible_collections.netobs.cilium.plugins.module_utils.report import build as report_model
from ansible_collections.netobs.cilium.plugins.module_utils.report import run as report_run


def argument_spec():
    """Module options: kubernetes.core auth options (for snapshot_live) plus ours."""
    return arg_specs.build(
        evidence=dict(type='list', elements='dict', default=[]),
        snapshot=dict(type='dict'),
        snapshot_src=dict(type='list', elements='path'),
        snapshot_live=dict(type='bool', default=False),
        snapshot_namespaces=dict(type='list', elements='str'),
        expectations=dict(type='list', elements='dict'),
        expectations_file=dict(type='path'),
        probes=dict(type='list', elements='raw'),
        baseline=dict(type='path'),
        cluster=dict(type='str', default='default'),
        dest=dict(type='path', required=True),
        basename=dict(type='str'),
        formats=dict(type='list', elements='str', choices=list(report_model.FORMATS), default=list(report_model.FORMATS)),
        fail_on=dict(type='str', choices=['none', 'unexpected', 'any'], default='none'),
        other_drops=dict(type='str', choices=list(report_model.OTHER_DROPS_MODES), default='report'),
        emitter_interval=dict(type='str'),
        event_ttl=dict(type='str', default='1h'),
        max_evidence=dict(type='int', default=report_model.DEFAULT_MAX_EVIDENCE),
        max_findings=dict(type='int', default=20),
        rollup=dict(type='list', elements='path'),
        rollup_failed=dict(type='list', elements='dict', options=dict(
            cluster=dict(type='str', required=True), error=dict(type='str'), report=dict(type='path'))),
    )


def main():
    """Entry point."""
    module = NetobsModule(argument_spec(), doing='building the report', kube_error_prefix='cannot read the policy snapshot from the cluster: ')
    params = module.params

    def body():
        if report_run.is_rollup(params):
            outcome = report_run.run_rollup(params, check_mode=module.check_mode)
        else:
            outcome = report_run.run_report(params, connect=module.kube_api, check_mode=module.check_mode, warn=module.warn)
        for warning in outcome.warnings:
            module.warn(warning)
        if outcome.failure:
            module.fail_json(msg=outcome.failure, **outcome.result)
        return outcome.result

    module.run(body, (report_model.ReportError, message()),
               (OSError, lambda exc: 'cannot write the reports to %s: %s' % (params['dest'], exc)))


if __name__ == '__main__':
    main()
