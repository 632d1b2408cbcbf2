# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""JSON writer: valid against docs/schemas/report.schema.json, stable bytes, round trip."""

from __future__ import annotations

import json

import jsonschema
import report_samples as samples

from ansible_collections.netobs.cilium.plugins.module_utils.report import json as report_json
from ansible_collections.netobs.cilium.plugins.module_utils.report import document as report_document


def test_json_report_validates_and_round_trips():
    schema = samples.schema('report')
    jsonschema.Draft202012Validator.check_schema(schema)
    for report in (samples.example_report(), samples.hostile_report()):
        data = report_json.render(report)
        assert data.endswith(b'}\n')
        loaded = json.loads(data)
        jsonschema.Draft202012Validator(schema).validate(loaded)
        assert loaded == json.loads(json.dumps(report))
        assert report_document.content_hash(loaded) == loaded['content_hash']


def test_json_is_byte_stable_and_keeps_unicode():
    report = samples.example_report(cluster='clúster-ü')
    assert report_json.render(report) == report_json.render(samples.example_report(cluster='clúster-ü'))
    assert 'clúster-ü'.encode('utf-8') in report_json.render(report)


def test_schema_rejects_what_readers_must_not_accept():
    report = json.loads(report_json.render(samples.example_report()))
    validator = jsonschema.Draft202012Validator(samples.schema('report'))
    broken = dict(report, summary=dict(report['summary'], verdict='maybe'))
    assert not validator.is_valid(broken)
    broken = dict(report, expectations=[dict(report['expectations'][0], verdict='pass', category='outage_risk')])
    assert not validator.is_valid(broken)
    broken = dict(report, violations=[dict(report['violations'][0], classification='fine')])
    assert not validator.is_valid(broken)
    assert not validator.is_valid(dict(report, schema_version='2.0'))
