# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one JSON/YAML file loader (_common.documents) behind policy snapshots, expectations and saved Cilium objects."""

from __future__ import annotations

import json

import pytest

from ansible_collections.netobs.cilium.plugins.module_utils._common.documents import (
    flatten_lists, load_documents, load_single_document)
from ansible_collections.netobs.cilium.plugins.module_utils._common.errors import NetobsError
from ansible_collections.netobs.cilium.plugins.module_utils.attribution.snapshot import SnapshotError, load_file
from ansible_collections.netobs.cilium.plugins.module_utils.install import config as cc
from ansible_collections.netobs.cilium.plugins.module_utils.verdicts import expectations as exp


class _Oops(NetobsError):
    pass


def test_extension_decides_and_empty_yaml_documents_are_dropped(tmp_path):
    (tmp_path / 'a.yaml').write_text('a: 1\n---\n---\nb: 2\n')
    assert load_documents(str(tmp_path / 'a.yaml')) == [{'a': 1}, {'b': 2}]
    (tmp_path / 'a.json').write_text('{"a": 1}')
    assert load_documents(str(tmp_path / 'a.json')) == [{'a': 1}]
    (tmp_path / 'b.json').write_text('a: 1\n')
    with pytest.raises(_Oops, match=r'b\.json is not valid JSON'):
        load_documents(str(tmp_path / 'b.json'), _Oops)
    assert load_documents(str(tmp_path / 'b.json'), _Oops, sniff=True) == [{'a': 1}]


def test_errors_carry_the_callers_class_and_what(tmp_path):
    with pytest.raises(_Oops, match='cannot read expectations file .*missing.yml'):
        load_documents(str(tmp_path / 'missing.yml'), _Oops, 'expectations file ')
    (tmp_path / 'broken.yaml').write_text('a: [\n')
    with pytest.raises(_Oops, match='is not valid YAML'):
        load_documents(str(tmp_path / 'broken.yaml'), _Oops)
    with pytest.raises(_Oops, match='neither JSON nor YAML'):
        load_documents(str(tmp_path / 'broken.yaml'), _Oops, sniff=True)


def test_non_utf8_files_are_reported_by_every_caller(tmp_path):
    # install/config.py decoded with errors='replace' while snapshots and expectations refused; now all refuse
    path = tmp_path / 'latin1.yaml'
    path.write_bytes('kind: ConfigMap\nmetadata: {name: caf\xe9}\n'.encode('latin-1'))
    for call, error in ((load_file, SnapshotError), (cc.load_objects, cc.CiliumConfigError),
                        (exp.read_expectations_file, exp.ExpectationError)):
        with pytest.raises(error, match='cannot read'):
            call(str(path))


def test_single_document(tmp_path):
    (tmp_path / 'one.yml').write_text('a: 1\n')
    assert load_single_document(str(tmp_path / 'one.yml')) == {'a': 1}
    (tmp_path / 'empty.yml').write_text('')
    assert load_single_document(str(tmp_path / 'empty.yml')) is None
    (tmp_path / 'two.yml').write_text('a: 1\n---\nb: 2\n')
    with pytest.raises(exp.ExpectationError, match='is not valid YAML: it holds 2 documents'):
        exp.read_expectations_file(str(tmp_path / 'two.yml'))


def test_flatten_lists(tmp_path):
    docs = [{'kind': 'List', 'items': [{'kind': 'A'}, 'junk', {'kind': 'B'}]}, {'kind': 'C'}, None, 'text', [1]]
    assert flatten_lists(docs) == [{'kind': 'A'}, {'kind': 'B'}, {'kind': 'C'}]
    (tmp_path / 'l.yaml').write_text(json.dumps({'kind': 'List', 'items': [{'kind': 'ConfigMap'}]}))
    assert cc.load_objects(str(tmp_path / 'l.yaml')) == [{'kind': 'ConfigMap'}]
