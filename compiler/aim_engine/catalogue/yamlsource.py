"""Read a YAML file into plain data while remembering where every value came from.

Validation errors must point at `file:line`, so we keep PyYAML's node tree next to the
constructed data and look lines up by path. We also refuse what PyYAML silently accepts
but a recipe author never means: duplicate keys (the last one would win) and alias
expansions large enough to hang every later pass over the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# A recipe expands to a few hundred nodes; this leaves room for big hand-written files
# while stopping "billion laughs" documents before anything walks them.
MAX_EXPANDED_NODES = 200_000

# libyaml's parser is several times faster and gives the same nodes and marks.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Path_ = tuple[Any, ...]


class YamlError(Exception):
    """The file cannot be turned into data; carries the line to blame."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass
class YamlDocument:
    path: Path
    data: Any
    root: yaml.Node | None
    duplicate_keys: list[tuple[str, int]] = field(default_factory=list)

    def line_of(self, where: Path_) -> int | None:
        """Line (1-based) of the value at `where`, or of its closest existing parent."""
        node = self.root
        best = node.start_mark.line + 1 if node is not None else None
        for step in where:
            node = _child(node, step)
            if node is None:
                break
            best = node.start_mark.line + 1
        return best

    def key_line(self, where: Path_) -> int | None:
        """Line of the *key* that introduces `where` (nicer for 'unknown key' errors)."""
        if not where:
            return self.line_of(where)
        parent = self._node_at(where[:-1])
        if isinstance(parent, yaml.MappingNode):
            for key_node, _ in reversed(parent.value):
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(where[-1]):
                    return key_node.start_mark.line + 1
        return self.line_of(where)

    def _node_at(self, where: Path_) -> yaml.Node | None:
        node = self.root
        for step in where:
            node = _child(node, step)
            if node is None:
                return None
        return node


def _child(node: yaml.Node | None, step: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        # Construction flattened `<<` merges into node.value (merged pairs first); the
        # last pair with a key is the one the constructed dict kept.
        for key_node, value_node in reversed(node.value):
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(step):
                return value_node
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
        return node.value[step]
    return None


def _is_merge_key(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:merge"


def _expanded_size(node: yaml.Node, memo: dict[int, int | None], depth: int = 0) -> int:
    if depth > 200:
        raise YamlError("document nests deeper than 200 levels", node.start_mark.line + 1)
    key = id(node)
    if key in memo:
        done = memo[key]
        if done is None:  # still being sized: the alias points at one of its own parents
            raise YamlError("recursive alias: a node contains itself", node.start_mark.line + 1)
        return done
    memo[key] = None
    size = 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            size += _expanded_size(k, memo, depth + 1) + _expanded_size(v, memo, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            size += _expanded_size(item, memo, depth + 1)
    memo[key] = size
    return size


def _duplicate_keys(node: yaml.Node, seen_nodes: set[int], out: list[tuple[str, int]]) -> None:
    if id(node) in seen_nodes:
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys: set[str] = set()
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and not _is_merge_key(k):
                if k.value in keys:
                    out.append((k.value, k.start_mark.line + 1))
                keys.add(k.value)
            _duplicate_keys(v, seen_nodes, out)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _duplicate_keys(item, seen_nodes, out)


def parse_yaml(text: str, path: Path) -> YamlDocument:
    """Parse one YAML document. Raises YamlError with a line for anything unusable."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return YamlDocument(path, None, None)
        if _expanded_size(root, {}) > MAX_EXPANDED_NODES:
            raise YamlError(
                f"document expands to more than {MAX_EXPANDED_NODES} nodes through aliases",
                root.start_mark.line + 1,
            )
        duplicates: list[tuple[str, int]] = []
        _duplicate_keys(root, set(), duplicates)
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlError(f"invalid YAML: {problem}", line) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}") from None
    except RecursionError:
        raise YamlError("document nests too deeply") from None
    finally:
        loader.dispose()
    return YamlDocument(path, data, root, duplicates)


def read_source(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise YamlError(f"cannot read file: {exc.strerror}") from None


def load_yaml(path: Path, raw: bytes | None = None) -> YamlDocument:
    """Parse the file at `path` (or its bytes `raw`, already read)."""
    raw = read_source(path) if raw is None else raw
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlError(f"file is not UTF-8 (byte {exc.start})") from None
    return parse_yaml(text, path)
