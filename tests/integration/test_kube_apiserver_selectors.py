# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Selector grammar and patch semantics of the test apiserver (pure functions, no server)."""

from __future__ import annotations

import pytest

from servers.kube_patch import merge_patch, strategic_merge
from servers.kube_selectors import FieldSelector, LabelSelector, SelectorError

LABELS = {'app': 'nginx', 'tier': 'web', 'rank': '5'}


@pytest.mark.parametrize('selector, expected', [
    ('', True), ('app=nginx', True), ('app==nginx', True), ('app!=nginx', False), ('app!=db', True), ('missing!=x', True),
    ('app in (nginx, db)', True), ('app in (db)', False), ('app notin (db)', True), ('missing notin (db)', True),
    ('app notin (nginx)', False), ('tier', True), ('missing', False), ('!missing', True), ('!tier', False),
    ('app=nginx,tier=web', True), ('app=nginx,tier=db', False), ('rank>3', True), ('rank<3', False), ('app in (nginx),!x,tier', True),
    (' app = nginx , tier in ( web ) ', True), ('app=', False), ('example.com/role', False),
])
def test_label_selector_semantics(selector, expected):
    assert LabelSelector.parse(selector).matches(LABELS) is expected


@pytest.mark.parametrize('selector', ['app in nginx', 'app in (a', '=x', 'a b', 'rank>x', 'app=(x)', 'bad key!=1', 'a=b=c'])
def test_label_selector_errors(selector):
    with pytest.raises(SelectorError):
        LabelSelector.parse(selector)


def test_field_selector_operators_escapes_and_and():
    fields = {'reason': 'PacketDrop', 'type': 'Warning', 'involvedObject.name': 'a,b=c'}
    assert FieldSelector.parse('reason=PacketDrop,type==Warning').matches(fields)
    assert not FieldSelector.parse('reason=PacketDrop,type!=Warning').matches(fields)
    assert FieldSelector.parse(r'involvedObject.name=a\,b\=c').matches(fields)
    assert FieldSelector.parse('reason=').matches({'reason': ''})
    assert FieldSelector.parse('a=b!=c').terms == [('a', '=', 'b!=c')]
    with pytest.raises(SelectorError, match="invalid selector: 'reason'; can't understand 'reason'"):
        FieldSelector.parse('reason')


def test_merge_patch():
    doc = {'a': {'b': 1, 'c': [1, 2]}, 'd': 'x'}
    assert merge_patch(doc, {'a': {'b': None, 'c': [3]}, 'e': 1}) == {'a': {'c': [3]}, 'd': 'x', 'e': 1}
    assert doc == {'a': {'b': 1, 'c': [1, 2]}, 'd': 'x'}


def test_strategic_merge_patch_approximation():
    spec = {'containers': [{'name': 'a', 'image': 'a:1', 'env': [{'name': 'X', 'value': '1'}]}, {'name': 'b', 'image': 'b:1'}],
            'volumes': [{'name': 'v'}], 'tolerations': [{'key': 'k'}]}
    out = strategic_merge(spec, {'containers': [{'name': 'a', 'env': [{'name': 'Y', 'value': '2'}]}, {'name': 'c', 'image': 'c:1'}],
                                 'tolerations': [{'key': 'other'}]})
    assert [c['name'] for c in out['containers']] == ['a', 'b', 'c']
    assert out['containers'][0]['env'] == [{'name': 'X', 'value': '1'}, {'name': 'Y', 'value': '2'}]
    assert out['tolerations'] == [{'key': 'other'}]            # no merge key: replaced
    out = strategic_merge(spec, {'$setElementOrder/containers': [{'name': 'b'}, {'name': 'a'}],
                                 'containers': [{'name': 'a', '$patch': 'delete'}], 'volumes': [{'$patch': 'replace'}]})
    assert [c['name'] for c in out['containers']] == ['b'] and out['volumes'] == []
    meta = strategic_merge({'finalizers': ['a'], 'labels': {'x': '1', 'y': '2'}},
                           {'finalizers': ['b'], '$deleteFromPrimitiveList/finalizers': ['a'], 'labels': {'$retainKeys': ['x']}})
    assert meta == {'finalizers': ['b'], 'labels': {'x': '1'}}
