# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What ``netobs.cilium.violation_report`` does, without Ansible: read the inputs, build, plan, write, judge.

``run_report`` (one cluster) and ``run_rollup`` (a fleet) take the module's options as a mapping and return an
:class:`Outcome`: the result, the warnings and - when the task must fail after the files are written - the failure
message. Wrong options and unreadable inputs raise ``ReportError`` with a message fit for the user.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ansible_collections.netobs.cilium.plugins.module_utils.attribution.snapshot import PolicySnapshot, SnapshotError
from ansible_collections.netobs.cilium.plugins.module_utils.report import build as report_model
from ansible_collections.netobs.cilium.plugins.module_utils.report.build import ReportError
from ansible_collections.netobs.cilium.plugins.module_utils.verdicts import expectations as exp

ROLLUP_EXCLUDES = ('snapshot', 'snapshot_src', 'expectations', 'expectations_file', 'probes', 'baseline')


@dataclass
class Outcome:
    """The module result, the warnings to show and the failure message (``None`` when the task succeeds)."""

    result: dict
    warnings: list[str] = field(default_factory=list)
    failure: str | None = None


def is_rollup(params: Mapping) -> bool:
    """Roll-up mode: ``rollup`` or ``rollup_failed`` given."""
    return bool(params.get('rollup') or params.get('rollup_failed'))


def read_snapshot(params: Mapping, connect: Callable | None = None) -> PolicySnapshot | None:
    """The policy snapshot from ``snapshot``, ``snapshot_src`` or (with ``connect()`` -> ``KubeAPI``) the cluster."""
    given = [name for name in ('snapshot', 'snapshot_src') if params.get(name)] + (['snapshot_live'] if params.get('snapshot_live') else [])
    if len(given) > 1:
        raise ReportError('give only one of snapshot, snapshot_src and snapshot_live (got %s)' % ', '.join(given))
    if params.get('snapshot_namespaces') and not params.get('snapshot_live'):
        raise ReportError('snapshot_namespaces only applies with snapshot_live: true')
    cluster = params.get('cluster') or 'default'
    try:
        if params.get('snapshot_live'):
            if connect is None:
                raise ReportError('snapshot_live needs a connection to the cluster')
            return PolicySnapshot.from_api(connect(), namespaces=params.get('snapshot_namespaces'), cluster_name=cluster)
    except SnapshotError as exc:
        raise ReportError('cannot read the policy snapshot from the cluster: %s' % exc) from None
    try:
        if params.get('snapshot') is not None:
            data = params['snapshot']
            if 'kind' not in data and 'items' not in data:
                data = [value for value in data.values() if isinstance(value, (list, dict))]
            return PolicySnapshot.from_objects(data, source='parameter', cluster_name=cluster)
        if params.get('snapshot_src'):
            return PolicySnapshot.from_files(params['snapshot_src'], cluster_name=cluster)
    except SnapshotError as exc:
        raise ReportError('cannot build the policy snapshot: %s' % exc) from None
    return None


def read_expectations(params: Mapping) -> list:
    """The expectations from ``expectations`` or ``expectations_file``.

    Not ``mutually_exclusive`` in the argument spec: Ansible counts an option set to null as given, and a play may
    override ``expectations_file`` with null to pass ``expectations`` instead (an empty list still counts as given)."""
    if params.get('expectations') is not None and params.get('expectations_file'):
        raise ReportError('give expectations or expectations_file, not both')
    try:
        if params.get('expectations_file'):
            return exp.read_expectations_file(params['expectations_file'])
        return exp.load_expectations(params.get('expectations') or [], source='expectations')
    except exp.ExpectationError as exc:
        raise ReportError('invalid expectations: %s' % exc) from None


def read_baseline(path: str | None, warn: Callable[[str], None]) -> dict | None:
    """The previous report; a missing file is a warning (the first scheduled run), an invalid one an error."""
    if not path:
        return None
    if not os.path.exists(path):
        warn('baseline %s does not exist (first run?): the report has no baseline diff' % path)
        return None
    try:
        return report_model.load_report(path)
    except ReportError as exc:
        raise ReportError('invalid baseline: %s' % exc) from None


def write(document: dict, dest: str, basename: str, formats, check_mode: bool) -> dict:
    """Render ``document`` into ``dest``, write the files whose content changed (none in check mode)."""
    plan = report_model.plan_outputs(document, dest, basename, formats)
    would_write = [item['path'] for item in plan if item['changed']]
    written = []
    if not check_mode:
        for item in plan:
            if item['changed']:
                report_model.write_atomic(item['path'], item['content'])
                written.append(item['path'])
    return {
        'changed': bool(would_write),
        'reports': {item['format']: item['path'] for item in plan},
        'written': written,
        'would_write': would_write,
        'content_hash': document['content_hash'],
    }


def run_rollup(params: Mapping, check_mode: bool = False) -> Outcome:
    """Roll JSON reports (and clusters that did not report) up into a fleet view and write it."""
    forbidden = [name for name in ROLLUP_EXCLUDES if params.get(name)] + (['evidence'] if params.get('evidence') else []) \
        + (['snapshot_live'] if params.get('snapshot_live') else [])
    if forbidden:
        raise ReportError('rollup reads finished JSON reports; remove %s (or run the reports first, then the roll-up)' % ', '.join(forbidden))
    formats = [fmt for fmt in params['formats'] if fmt in report_model.FLEET_FORMATS]
    if not formats:
        raise ReportError('a roll-up is written as json, markdown or html; formats has none of them')
    try:
        rollup = report_model.build_rollup(params.get('rollup') or [], did_not_report=params.get('rollup_failed') or [])
    except ReportError as exc:
        raise ReportError('cannot build the roll-up: %s' % exc) from None
    result = write(rollup, params['dest'], params.get('basename') or 'fleet', formats, check_mode)
    summary = rollup['summary']
    failing = [{'type': 'cluster', 'name': c['cluster'], 'verdict': c['verdict'], 'category': 'did_not_report' if c.get('error') else None,
                'controls': [], 'explanation': ('did not report: %s' % c['error']) if c.get('error')
                else '%s failing finding(s), %s unexpected' % (c['failing'], c['unexpected'])}
               for c in rollup['clusters'] if c['verdict'] != exp.PASS]
    missing = sum(1 for c in rollup['clusters'] if c.get('error'))
    max_findings = params['max_findings']
    result.update(verdict=exp.FAIL if summary['failed'] else exp.PASS, summary=summary,
                  findings=failing[:max_findings], findings_truncated=len(failing) > max_findings, coverage_notes=[])
    # A cluster that did not report cannot show that nothing unexpected happened there: it fails fail_on=unexpected too.
    fail_on = params['fail_on']
    failure = None
    if (fail_on == 'any' and summary['failed']) or (fail_on == 'unexpected' and (summary['unexpected'] or missing)):
        failure = ('fleet roll-up: %d of %d cluster(s) failed, %d unexpected finding(s); see %s'
                   % (summary['failed'], summary['clusters'], summary['unexpected'], ', '.join(result['reports'].values())))
    return Outcome(result, failure=failure)


def run_report(params: Mapping, connect: Callable | None = None, check_mode: bool = False,
               warn: Callable[[str], None] | None = None) -> Outcome:
    """Judge the evidence of one cluster, write the reports, say whether ``fail_on`` fails the task.

    Warnings go to ``warn`` as they happen (so they reach a failed result too), else into ``Outcome.warnings``."""
    if not 1 <= params['max_evidence'] <= 50:
        raise ReportError('max_evidence must be between 1 and 50, got %d' % params['max_evidence'])
    if params['max_findings'] < 0:
        raise ReportError('max_findings must be 0 or more')
    warnings: list[str] = []
    expectations = read_expectations(params)
    baseline = read_baseline(params.get('baseline'), warn or warnings.append)
    snapshot = read_snapshot(params, connect)
    options = {
        'emitter_interval': params.get('emitter_interval'),
        'event_ttl': params['event_ttl'], 'max_evidence': params['max_evidence'],
        'expectations_file': params.get('expectations_file'), 'expectations': len(expectations), 'baseline': params.get('baseline'),
        'snapshot': 'live' if params.get('snapshot_live') else ('files' if params.get('snapshot_src') else ('parameter' if params.get('snapshot') else None)),
        'other_drops': params['other_drops'],
    }
    report = report_model.build_report(
        cluster=params['cluster'], evidence=params['evidence'], snapshot=snapshot, expectations=expectations,
        probes=params.get('probes') or [], baseline=baseline, baseline_source=params.get('baseline'), options=options,
        emitter_interval=params.get('emitter_interval'), event_ttl=params['event_ttl'], max_evidence=params['max_evidence'],
        other_drops=params['other_drops'])
    basename = params.get('basename') or 'compliance'
    own_json = report_model.output_paths(params['dest'], basename, ['json'])['json']
    if baseline is not None and os.path.abspath(params['baseline']) == os.path.abspath(own_json) and report_model.same_evidence(report, baseline):
        # Compared with itself: nothing changed since the previous run, so the previous report stays as it is.
        report = baseline
    result = write(report, params['dest'], basename, params['formats'], check_mode)
    findings, truncated = report_model.findings(report, params['max_findings'])
    summary = report['summary']
    result.update(verdict=summary['verdict'], summary=summary, findings=findings, findings_truncated=truncated,
                  coverage_notes=report['coverage']['notes'])
    failure = None
    if report_model.should_fail(summary, params['fail_on']):
        expectations_summary = summary['expectations']
        failure = ('compliance check failed for cluster %s (fail_on=%s): %d unexpected, %d failing - %d outage risk(s), %d unexpected '
                   'allow(s), %d unreviewed violation(s), %d unproven control(s), %d other drop(s) (not policy verdicts, %s). Reports: %s'
                   % (params['cluster'], params['fail_on'], summary['unexpected'], summary['failing'], expectations_summary['outage_risk'],
                      expectations_summary['unexpected_allow'], summary['violations']['unreviewed'], expectations_summary['control_unproven'],
                      summary['other_drops']['total'], 'counted as failures' if summary['other_drops']['fail'] else 'not judged',
                      ', '.join(result['reports'].values())))
    return Outcome(result, warnings, failure)
