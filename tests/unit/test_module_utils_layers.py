# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The layers docs/architecture.md draws, checked against the real imports of plugins/module_utils and plugins/modules.

Every import (also the ones inside functions) of the collection's own code becomes an edge between two files,
named by their path under ``plugins/`` (``module_utils/k8s/client.py``). The checks:

* no import cycle between files, nor between packages (``module_utils/<package>/``);
* no upward import along ``ORDER`` (lowest first); ``install`` is a separate path that may use ``_common`` and
  ``k8s`` only, and no layer imports ``install``; nothing in module_utils imports ``plugins/modules``;
* ``module_support`` (the module base and shared argument specs) is the top layer: it may import every package,
  and only ``plugins/modules`` import it;
* ``sources`` do not aggregate: they must not import ``evidence/aggregation.py`` (``KNOWN_DEBT`` is empty and must
  stay so; an entry that no longer exists fails too, so the list cannot go stale);
* the table in docs/architecture.md names every package, only paths that exist, and the same order.
"""

from __future__ import annotations

import ast
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGINS = os.path.join(ROOT, 'plugins')
PREFIX = 'ansible_collections.netobs.cilium.plugins.'
ORDER = ('_common', 'k8s', 'evidence', 'sources', 'attribution', 'verdicts', 'report')
SEPARATE = {'install': frozenset(('_common', 'k8s'))}
TOP = 'module_support'  # the adapter layer under plugins/modules: imports any package, imported by plugins/modules only
AGGREGATION = 'module_utils/evidence/aggregation.py'
# Sources never aggregate (issue 12): no edge from sources to evidence/aggregation.py is tolerated.
KNOWN_DEBT: frozenset = frozenset()


# -- the import graph ------------------------------------------------------------------------------------------
def plugin_files() -> list[str]:
    """Every Python file of plugins/module_utils and plugins/modules, as a path relative to plugins/."""
    found = []
    for top in ('module_utils', 'modules'):
        for directory, _dirs, names in os.walk(os.path.join(PLUGINS, top)):
            found.extend(os.path.relpath(os.path.join(directory, name), PLUGINS).replace(os.sep, '/')
                         for name in names if name.endswith('.py'))
    return sorted(found)


def dotted(path: str) -> str:
    """``module_utils/k8s/client.py`` -> ``module_utils.k8s.client`` (a package's ``__init__.py`` -> the package)."""
    name = path[:-len('.py')].replace('/', '.')
    return name[:-len('.__init__')] if name.endswith('.__init__') else name


def imported_names(path: str, tree: ast.AST) -> set[str]:
    """Dotted names (relative to ``plugins.``) of the collection code ``tree`` imports, with ``from x import y`` as ``x.y``."""
    package = dotted(path) if path.endswith('__init__.py') else dotted(path).rpartition('.')[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name[len(PREFIX):] for alias in node.names if alias.name.startswith(PREFIX))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')[:len(package.split('.')) - node.level + 1]
                module = '.'.join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith(PREFIX):
                module = node.module[len(PREFIX):]
            else:
                continue
            names.update(f'{module}.{alias.name}' for alias in node.names)
    return names


def resolve(name: str, modules: dict[str, str]) -> str | None:
    """The file a dotted import name lands in: the longest prefix that is a known module."""
    parts = name.split('.')
    for end in range(len(parts), 0, -1):
        found = modules.get('.'.join(parts[:end]))
        if found:
            return found
    return None


def import_edges(files: list[str] | None = None) -> set[tuple[str, str]]:
    """(importer, imported) file pairs over ``files`` (default: all of module_utils and modules)."""
    files = plugin_files() if files is None else files
    modules = {dotted(path): path for path in files}
    edges = set()
    for path in files:
        with open(os.path.join(PLUGINS, path), encoding='utf-8') as handle:
            tree = ast.parse(handle.read(), filename=path)
        for name in imported_names(path, tree):
            target = resolve(name, modules)
            if target and target != path:
                edges.add((path, target))
    return edges


# -- the rules ---------------------------------------------------------------------------------------------------
def package_of(path: str) -> str:
    """``module_utils/sources/hubble/relay.py`` -> ``sources``; a plugins/modules file -> ``modules``."""
    parts = path.split('/')
    if parts[0] == 'modules':
        return 'modules'
    return parts[1] if len(parts) > 2 else '(top level)'


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each sorted."""
    graph: dict[str, list[str]] = {}
    for source, target in sorted(edges):
        graph.setdefault(source, []).append(target)
        graph.setdefault(target, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def edge_problem(source: str, target: str) -> str | None:
    """Why the import ``source`` -> ``target`` breaks the layering, or ``None``."""
    src, dst = package_of(source), package_of(target)
    if source.startswith('module_utils/') and dst == 'modules':
        return 'module_utils must not import plugins/modules'
    if src == 'modules' or src == dst:
        return None
    if dst == TOP:
        return f'only plugins/modules import {TOP} (the top layer)'
    if src == TOP:
        return None
    if '(top level)' in (src, dst):
        return 'every module_utils file belongs in a package (plugins/module_utils/<package>/)'
    if src in SEPARATE:
        return None if dst in SEPARATE[src] else f'{src} may import only {", ".join(sorted(SEPARATE[src]))}'
    if dst in SEPARATE:
        return f'{dst} is a separate path: no layer imports it'
    if src not in ORDER or dst not in ORDER:
        return f'package {src if src not in ORDER else dst} is not in ORDER nor SEPARATE'
    if ORDER.index(dst) > ORDER.index(src):
        return f'upward import: {src} is below {dst} ({" < ".join(ORDER)})'
    if src == 'sources' and target == AGGREGATION:
        return 'sources must not aggregate (aggregation runs after the sources)'
    return None


def layering_problems(edges: set[tuple[str, str]], known_debt: frozenset = KNOWN_DEBT) -> list[str]:
    """Every broken rule, one line each, naming the offending files."""
    problems = []
    for source, target in sorted(edges):
        reason = edge_problem(source, target)
        if reason and (source, target) not in known_debt:
            problems.append(f'{source} imports {target}: {reason}')
    for component in cycles(edges):
        inside = sorted(f'{s} -> {t}' for s, t in edges if s in component and t in component)
        problems.append('import cycle between files: ' + '; '.join(inside))
    package_edges = {(package_of(s), package_of(t)) for s, t in edges if package_of(s) != package_of(t)}
    for component in cycles(package_edges):
        inside = sorted(f'{s} -> {t}' for s, t in edges
                        if package_of(s) in component and package_of(t) in component and package_of(s) != package_of(t))
        problems.append(f'import cycle between packages {", ".join(component)}: ' + '; '.join(inside))
    for source, target in sorted(known_debt - edges):
        problems.append(f'KNOWN_DEBT lists {source} -> {target}, which no longer exists: remove it from the list')
    return problems


# -- the real tree -----------------------------------------------------------------------------------------------
def test_the_import_graph_is_read():
    edges = import_edges()
    assert ('module_utils/report/build.py', 'module_utils/report/html.py') in edges          # lazy import in render()
    assert ('module_utils/report/html.py', 'module_utils/report/document.py') in edges
    assert ('modules/violation_report.py', 'module_utils/report/build.py') in edges
    assert ('module_utils/sources/hubble/relay.py', 'module_utils/sources/hubble/observer_pb2.py') in edges
    assert len(edges) > 60


def test_module_utils_follows_the_layers_without_cycles():
    assert not KNOWN_DEBT, 'sources never aggregate: no import of evidence/aggregation.py from sources is tolerated'
    problems = layering_problems(import_edges())
    assert not problems, 'the imports break the layers of docs/architecture.md:\n' + '\n'.join(problems)


def test_every_module_utils_file_is_in_a_package_with_an_init():
    for path in plugin_files():
        if path.startswith('module_utils/'):
            assert package_of(path) != '(top level)', f'{path} is outside the packages of docs/architecture.md'
            init = os.path.join(PLUGINS, os.path.dirname(path), '__init__.py')
            assert os.path.isfile(init), f'{os.path.dirname(path)} has no __init__.py'


# -- the checker itself can fail --------------------------------------------------------------------------------
BUILD = 'module_utils/report/build.py'
MODEL = 'module_utils/evidence/model.py'


@pytest.mark.parametrize('edges, expected', [
    ({(MODEL, BUILD)}, f'{MODEL} imports {BUILD}: upward import: evidence is below report'),
    ({('module_utils/k8s/client.py', 'module_utils/install/values.py')}, 'install is a separate path'),
    ({('module_utils/install/config.py', MODEL)}, 'install may import only _common, k8s'),
    ({(BUILD, 'modules/violation_report.py')}, 'module_utils must not import plugins/modules'),
    ({('module_utils/sources/hubble/relay.py', AGGREGATION)}, 'sources must not aggregate'),
    ({('module_utils/flat.py', MODEL)}, 'every module_utils file belongs in a package'),
    ({(BUILD, 'module_utils/module_support/base.py')}, 'only plugins/modules import module_support (the top layer)'),
    ({('module_utils/install/config.py', 'module_utils/module_support/arg_specs.py')}, 'only plugins/modules import module_support'),
    ({('module_utils/report/html.py', BUILD), (BUILD, 'module_utils/report/html.py')},
     f'import cycle between files: {BUILD} -> module_utils/report/html.py; module_utils/report/html.py -> {BUILD}'),
])
def test_a_synthetic_violation_is_caught(edges, expected):
    problems = layering_problems(edges, known_debt=frozenset())
    assert any(expected in problem for problem in problems), problems


def test_a_package_cycle_through_different_files_is_caught():
    edges = {('module_utils/sources/events/parser.py', 'module_utils/attribution/snapshot.py'),
             ('module_utils/attribution/netpol.py', 'module_utils/sources/hubble/parser.py')}
    problems = layering_problems(edges, known_debt=frozenset())
    assert not any('between files' in problem for problem in problems)
    assert any(problem.startswith('import cycle between packages attribution, sources: ') for problem in problems), problems


def test_a_stale_known_debt_entry_fails():
    debt = frozenset({('module_utils/sources/events/collector.py', AGGREGATION)})
    assert layering_problems(set(), known_debt=debt) == [
        f'KNOWN_DEBT lists module_utils/sources/events/collector.py -> {AGGREGATION}, which no longer exists: remove it from the list']
    assert not layering_problems(set(debt), known_debt=debt)


def test_a_clean_synthetic_graph_passes():
    assert not layering_problems({(BUILD, MODEL), ('modules/violation_report.py', BUILD),
                                  ('module_utils/install/config.py', 'module_utils/k8s/client.py'),
                                  ('modules/violation_report.py', 'module_utils/module_support/base.py'),
                                  ('module_utils/module_support/base.py', 'module_utils/k8s/client.py'),
                                  ('module_utils/module_support/base.py', 'module_utils/install/config.py')}, known_debt=frozenset())


# -- docs/architecture.md --------------------------------------------------------------------------------------
def architecture_table() -> dict[str, list[str]]:
    """``{package: [paths in the "where" column]}`` from the package table of docs/architecture.md."""
    with open(os.path.join(ROOT, 'docs', 'architecture.md'), encoding='utf-8') as handle:
        lines = handle.read().splitlines()
    header = lines.index('| package | what it does | where |')
    table = {}
    for line in lines[header + 2:]:
        if not line.startswith('|'):
            break
        cells = [cell.strip() for cell in re.split(r'(?<!\\)\|', line)[1:-1]]
        assert len(cells) == 3, line
        table[cells[0].strip('`')] = re.findall(r'`([^`]+)`', cells[2])
    return table


def test_architecture_table_names_every_package_and_only_existing_paths():
    table = architecture_table()
    packages = sorted(name for name in os.listdir(os.path.join(PLUGINS, 'module_utils'))
                      if os.path.isfile(os.path.join(PLUGINS, 'module_utils', name, '__init__.py')))
    assert sorted(table) == packages
    assert sorted(table) == sorted(ORDER + tuple(SEPARATE) + (TOP,))
    for package, paths in table.items():
        assert paths, f'{package} has no path in the "where" column'
        for path in paths:
            assert path.startswith(f'module_utils/{package}/'), f'{path} is listed under {package}'
            assert os.path.exists(os.path.join(PLUGINS, path)), f'docs/architecture.md names {path}, which does not exist'


def test_architecture_states_the_order_the_test_enforces():
    with open(os.path.join(ROOT, 'docs', 'architecture.md'), encoding='utf-8') as handle:
        text = ' '.join(handle.read().split())
    assert ' < '.join(f'`{package}`' for package in ORDER) in text
    assert f'`{TOP}` is the top layer' in text
