# Copyright: netobs.cilium contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one loader of saved JSON/YAML files (policy snapshots, expectations, saved Cilium objects).

* ``load_documents(path, error=..., what=..., sniff=False) -> list``: the documents of one file, empty YAML documents
  dropped. By default the extension decides (``.json`` is JSON, anything else YAML, multi-document allowed);
  ``sniff=True`` tries JSON first and falls back to YAML whatever the name (for ``kubectl get -o json > x.yaml``).
* ``load_single_document(...)``: exactly one document (an empty file or several YAML documents is an error).
* ``flatten_lists(documents) -> list[dict]``: objects, with ``*List`` documents (``items``) unwrapped one level.

Every failure raises ``error`` (a ``NetobsError`` subclass of the caller's) with one of these messages:
``cannot read <what><path>: ...``, ``<path> is not valid JSON: ...``, ``<path> is not valid YAML: ...``,
``<path> is neither JSON nor YAML: ...`` (sniffing) or ``reading <path> needs the PyYAML Python package``.
Files are read as strict UTF-8 (Kubernetes objects are UTF-8; anything else is reported, not guessed).
The streaming Event file reader (``sources.events.collector``) keeps its own incremental decoder: it yields
records one by one with line numbers and never holds the decoded file.
"""

from __future__ import annotations

import json

from ansible_collections.netobs.cilium.plugins.module_utils._common.errors import NetobsError

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML ships with Ansible
    HAS_YAML = False


def read_text(path: str, error: type[Exception] = NetobsError, what: str = '') -> str:
    """The text of ``path`` (strict UTF-8); ``error('cannot read <what><path>: ...')`` when it cannot be read."""
    try:
        with open(path, encoding='utf-8') as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f'cannot read {what}{path}: {exc}') from None


def _one_line(exc) -> str:
    return ' '.join(str(exc).split())


def _yaml_documents(text: str, path: str, error, sniffed_json_error=None) -> list:
    if not HAS_YAML:
        raise error(f'reading {path} needs the PyYAML Python package')
    try:
        return [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        if sniffed_json_error is not None:
            raise error(f'{path} is neither JSON nor YAML: {_one_line(exc)}') from None
        raise error(f'{path} is not valid YAML: {exc}') from None


def load_documents(path: str, error: type[Exception] = NetobsError, what: str = '', sniff: bool = False) -> list:
    """The decoded documents of one JSON or YAML file (see the module docstring)."""
    text = read_text(path, error, what)
    if sniff or path.endswith('.json'):
        try:
            return [json.loads(text)]
        except ValueError as exc:
            if not sniff:
                raise error(f'{path} is not valid JSON: {exc}') from None
            return _yaml_documents(text, path, error, sniffed_json_error=exc)
    return _yaml_documents(text, path, error)


def load_single_document(path: str, error: type[Exception] = NetobsError, what: str = ''):
    """The one document of a JSON or YAML file; None when the file holds no document."""
    documents = load_documents(path, error, what)
    if len(documents) > 1:
        raise error(f'{path} is not valid YAML: it holds {len(documents)} documents (separated by ---); expected one')
    return documents[0] if documents else None


def flatten_lists(documents) -> list[dict]:
    """The objects of decoded documents: a ``*List`` (a dict with an ``items`` list) gives its dict items; dicts are
    kept; anything else is dropped."""
    objects = []
    for doc in documents:
        if not isinstance(doc, dict):
            continue
        if isinstance(doc.get('items'), list):
            objects.extend(item for item in doc['items'] if isinstance(item, dict))
        else:
            objects.append(doc)
    return objects
