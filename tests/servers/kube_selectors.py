# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Label and field selectors with the Kubernetes grammar and semantics.

Label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``, ``a`` (exists),
``!a`` (does not exist), ``a>3`` / ``a<3`` (integer comparison), requirements AND-ed with ``,``.
Field selectors: ``f=v``, ``f==v``, ``f!=v`` AND-ed with ``,``; ``\\,``, ``\\=`` and ``\\\\`` escape.
Parse errors raise :class:`SelectorError` whose message mirrors the apiserver's wording.
"""

from __future__ import annotations

import re

_SPECIAL = set('(),!=<> \t\n')
_LABEL_KEY = re.compile(r'^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$')
_LABEL_VALUE = re.compile(r'^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$')


class SelectorError(ValueError):
    """A selector that the apiserver would reject with 400 BadRequest."""


def _lex(text):
    """Split a label selector into tokens: (kind, value)."""
    tokens = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in ' \t\n':
            i += 1
            continue
        two = text[i:i + 2]
        if two in ('==', '!='):
            tokens.append(('op', two))
            i += 2
            continue
        if ch in '(),':
            tokens.append((ch, ch))
            i += 1
            continue
        if ch == '!':
            tokens.append(('!', ch))
            i += 1
            continue
        if ch in '=<>':
            tokens.append(('op', ch))
            i += 1
            continue
        j = i
        while j < n and text[j] not in _SPECIAL:
            j += 1
        word = text[i:j]
        if word == 'in':
            tokens.append(('op', 'in'))
        elif word == 'notin':
            tokens.append(('op', 'notin'))
        else:
            tokens.append(('id', word))
        i = j
    return tokens


def _check_key(key):
    if len(key.split('/')[-1]) > 63 or not _LABEL_KEY.match(key):
        raise SelectorError(
            'unable to parse requirement: <nil>: Invalid value: "%s": name part must consist of alphanumeric characters, '
            "'-', '_' or '.', and must start and end with an alphanumeric character" % key)


def _check_value(value):
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise SelectorError(
            'unable to parse requirement: values[0][%s]: Invalid value: "%s": a valid label must be an empty string or consist '
            "of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character" % (value, value))


class LabelSelector:
    """A parsed label selector; ``matches(labels_dict)``."""

    def __init__(self, requirements):
        self.requirements = requirements

    @classmethod
    def parse(cls, text):
        if text is None or not text.strip():
            return cls([])
        tokens = _lex(text)
        reqs = []
        pos = 0

        def peek():
            return tokens[pos] if pos < len(tokens) else ('end', '')

        while True:
            kind, value = peek()
            if kind == '!':
                pos += 1
                kind, key = peek()
                if kind != 'id':
                    raise SelectorError("found '%s', expected: identifier after '!'" % key)
                pos += 1
                _check_key(key)
                reqs.append((key, '!', ()))
            elif kind == 'id':
                key = value
                _check_key(key)
                pos += 1
                kind, op = peek()
                if kind in (',', 'end'):
                    reqs.append((key, 'exists', ()))
                elif kind != 'op':
                    raise SelectorError("found '%s', expected: in, notin, =, ==, !=, gt, lt" % op)
                else:
                    pos += 1
                    if op in ('in', 'notin'):
                        kind = peek()[0]
                        if kind != '(':
                            raise SelectorError("found '%s', expected: '('" % peek()[1])
                        pos += 1
                        values = []
                        while True:
                            kind, val = peek()
                            if kind == 'id':
                                _check_value(val)
                                values.append(val)
                                pos += 1
                                kind, val = peek()
                            elif kind in (',', ')'):
                                values.append('')
                            else:
                                raise SelectorError("found '%s', expected: ',', ')' or identifier" % val)
                            if kind == ',':
                                pos += 1
                                continue
                            if kind == ')':
                                pos += 1
                                break
                            raise SelectorError("found '%s', expected: ',' or ')'" % val)
                        reqs.append((key, op, tuple(values)))
                    else:
                        kind, val = peek()
                        if kind == 'id':
                            pos += 1
                        elif kind in (',', 'end'):
                            val = ''
                        else:
                            raise SelectorError("found '%s', expected: identifier" % val)
                        if op in ('<', '>'):
                            try:
                                int(val)
                            except ValueError as exc:
                                raise SelectorError(
                                    'unable to parse requirement: for \'gt\', \'lt\' operators, the value must be an integer') from exc
                        else:
                            _check_value(val)
                        reqs.append((key, {'==': '=', '=': '='}.get(op, op), (val,)))
            else:
                raise SelectorError("found '%s', expected: !, identifier, or 'end of string'" % value)
            kind, value = peek()
            if kind == 'end':
                break
            if kind != ',':
                raise SelectorError("found '%s', expected: ',' or 'end of string'" % value)
            pos += 1
        return cls(reqs)

    def __bool__(self):
        return bool(self.requirements)

    def matches(self, labels):
        labels = labels or {}
        for key, op, values in self.requirements:
            present = key in labels
            if op == 'exists':
                if not present:
                    return False
            elif op == '!':
                if present:
                    return False
            elif op == '=':
                if not present or labels[key] != values[0]:
                    return False
            elif op == '!=':
                if present and labels[key] == values[0]:
                    return False
            elif op == 'in':
                if not present or labels[key] not in values:
                    return False
            elif op == 'notin':
                if present and labels[key] in values:
                    return False
            else:  # '<' / '>'
                if not present:
                    return False
                try:
                    have = int(labels[key])
                except ValueError:
                    return False
                want = int(values[0])
                if (op == '>' and have <= want) or (op == '<' and have >= want):
                    return False
        return True


def _split_unescaped(text, sep):
    parts = []
    buf = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == '\\' and i + 1 < len(text):
            buf.append(text[i:i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append(''.join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    parts.append(''.join(buf))
    return parts


def _unescape(value):
    out = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == '\\' and i + 1 < len(value):
            out.append(value[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    return ''.join(out)


class FieldSelector:
    """A parsed field selector: list of (field, op, value) with op in ``=`` / ``!=``."""

    def __init__(self, terms):
        self.terms = terms

    @classmethod
    def parse(cls, text):
        if text is None or not text.strip():
            return cls([])
        terms = []
        for part in _split_unescaped(text, ','):
            if part == '':
                continue
            idx, op = _find_operator(part)
            if idx < 0:
                raise SelectorError("invalid selector: '%s'; can't understand '%s'" % (text, part))
            terms.append((part[:idx], '!=' if op == '!=' else '=', _unescape(part[idx + len(op):])))
        return cls(terms)

    def __bool__(self):
        return bool(self.terms)

    def fields(self):
        return [t[0] for t in self.terms]

    def equalities(self):
        return [(f, v) for f, op, v in self.terms if op == '=']

    def matches(self, fields):
        for field, op, value in self.terms:
            have = fields.get(field, '')
            if (have == value) != (op == '='):
                return False
        return True


def _find_operator(text):
    """Position and text of the first unescaped ``!=``, ``==`` or ``=`` (like the apiserver's splitTerm)."""
    i = 0
    while i < len(text):
        if text[i] == '\\':
            i += 2
            continue
        for op in ('!=', '==', '='):
            if text.startswith(op, i):
                return i, op
        i += 1
    return -1, ''
