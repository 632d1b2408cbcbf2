# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render the Helm values the install role produces, per supported chart version, into docs/install.md.

The tables between the ``BEGIN/END GENERATED INSTALL VALUES`` markers in docs/install.md are produced
by ``plugins/module_utils/install/values.py`` itself, so the docs cannot drift from the code.

    python scripts/render_install_values.py           # rewrite docs/install.md
    python scripts/render_install_values.py --check   # exit 1 when docs/install.md is out of date
    python scripts/render_install_values.py --print   # print the generated section
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checkout_import  # noqa: E402  (this directory, also when loaded by path)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, 'docs', 'install.md')
BEGIN = '<!-- BEGIN GENERATED INSTALL VALUES (scripts/render_install_values.py) -->'
END = '<!-- END GENERATED INSTALL VALUES -->'
VERSIONS = ('1.16.19', '1.17.18', '1.18.12', '1.19.6', '1.20.0')


def load_install_values():
    """plugins/module_utils/install/values.py of this checkout (under its collection name, from any Python)."""
    return checkout_import.import_module_utils('install.values')


def leaves(values, prefix=()):
    """(dotted path, value) for every leaf; lists are leaves."""
    for key, value in values.items():
        path = prefix + (key,)
        if isinstance(value, dict) and value:
            yield from leaves(value, path)
        else:
            yield '.'.join(path), value


def cell(value):
    if value is None:
        return '-'
    return '`%s`' % json.dumps(value, separators=(', ', ': '))


def table(iv, profile):
    rendered = {v: dict(leaves(iv.build_values(v, profile=profile))) for v in VERSIONS}
    paths = sorted({p for values in rendered.values() for p in values})
    lines = ['| value | ' + ' | '.join(VERSIONS) + ' |', '|---|' + '---|' * len(VERSIONS)]
    for path in paths:
        lines.append('| `%s` | ' % path + ' | '.join(cell(rendered[v].get(path)) for v in VERSIONS) + ' |')
    return lines


def generate():
    iv = load_install_values()
    out = [BEGIN, '',
           'Generated from `plugins/module_utils/install/values.py` with the role defaults; `-` = not emitted for that chart.',
           '', '#### Profile `default`', '']
    out += table(iv, 'default')
    out += ['', '#### Profile `kind`', '']
    out += table(iv, 'kind')
    out += ['', '#### Why each `kind` key', '', '| value | why |', '|---|---|']
    for path, why in sorted(iv.KIND_PROFILE_REASONS.items()):
        out.append('| `%s` | %s |' % (path, why.replace('|', '\\|')))
    out += ['', END]
    return '\n'.join(out)


def splice(text, section):
    if BEGIN not in text or END not in text:
        raise SystemExit('%s lacks the markers %s ... %s' % (DOC, BEGIN, END))
    head, rest = text.split(BEGIN, 1)
    _old, tail = rest.split(END, 1)
    return head + section + tail


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--check', action='store_true', help='exit 1 when docs/install.md is out of date')
    parser.add_argument('--print', dest='show', action='store_true', help='print the generated section')
    args = parser.parse_args(argv)
    section = generate()
    if args.show:
        print(section)
        return 0
    with open(DOC, encoding='utf-8') as handle:
        current = handle.read()
    wanted = splice(current, section)
    if args.check:
        if wanted != current:
            print('docs/install.md is out of date: run python scripts/render_install_values.py', file=sys.stderr)
            return 1
        return 0
    if wanted != current:
        with open(DOC, 'w', encoding='utf-8') as handle:
            handle.write(wanted)
    return 0


if __name__ == '__main__':
    sys.exit(main())
