"""Read a YAML file into plain data while remembering where every value came from.

Validation errors must point at `file:line`, so we keep PyYAML's node tree next to the
constructed data and look lines up by path. We also refuse what PyYAML silently accepts
but a recipe author never means: duplicate keys (the last one would win), explicit tags
(`!!float abc`, `!!binary`, `!!set`: a catalogue file is plain data), nesting deeper than
any catalogue file needs and alias expansions large enough to hang every later pass over
the data. Every error carries the line to blame (a file that cannot be read or decoded
has none: see `YamlError`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# A recipe expands to a few hundred nodes; this leaves room for big hand-written files
# while stopping "billion laughs" documents before anything walks them.
MAX_EXPANDED_NODES = 200_000
# The deepest value of a catalogue file sits 5 levels down (a recipe's
# vllm_serve.1_gpu.args.--flag list); later passes (schema, records) recurse per level.
MAX_DEPTH = 64

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"

# libyaml's parser is several times faster and gives the same nodes and marks.
_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):
    """The safe loader, with a line on every value it cannot construct.

    The resolver matches some scalars that the constructor then fails on (a plain
    `2001-99-99` is a timestamp with month 99, `0x_` an integer without digits), and these
    failures are plain ValueErrors without a position.
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.MarkedYAMLError:
            raise
        except (ValueError, KeyError, IndexError, TypeError, OverflowError, AttributeError) as exc:
            kind = node.tag.rsplit(":", 1)[-1]
            why = " ".join(str(exc).split())[:80]
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {_short_text(node)} as {kind}: {why}", node.start_mark
            ) from None


def _short_text(node: yaml.Node) -> str:
    value = node.value if isinstance(node, yaml.ScalarNode) else "..."
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


Path_ = tuple[Any, ...]


class YamlError(Exception):
    """The file cannot be turned into data; carries the line to blame.

    `line` is None only when there is no text to point into: the file cannot be read."""

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

    def line_of(self, where: Path_) -> int:
        """Line (1-based) of the value at `where`, or of its closest existing parent (line 1
        in an empty document)."""
        node = self.root
        best = node.start_mark.line + 1 if node is not None else 1
        for step in where:
            node = _child(node, step)
            if node is None:
                break
            best = node.start_mark.line + 1
        return best

    def key_line(self, where: Path_) -> int:
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


def _implicit_tag(loader: Any, node: yaml.Node) -> str:
    """The tag the node would have without an explicit one (plain scalars: style None, or "" from libyaml)."""
    if isinstance(node, yaml.ScalarNode):
        return loader.resolve(yaml.ScalarNode, node.value, (True, False)) if not node.style else _STR
    return _MAP if isinstance(node, yaml.MappingNode) else _SEQ


def _expanded_size(loader: Any, node: yaml.Node, memo: dict[int, int | None], depth: int = 0) -> int:
    """Nodes after alias expansion; also refuses deep nesting and (with a `loader`) explicit tags."""
    if depth > MAX_DEPTH:
        raise YamlError(f"document nests deeper than {MAX_DEPTH} levels", node.start_mark.line + 1)
    key = id(node)
    if key in memo:
        done = memo[key]
        if done is None:  # still being sized: the alias points at one of its own parents
            raise YamlError("recursive alias: a node contains itself", node.start_mark.line + 1)
        return done
    memo[key] = None
    if loader is not None and node.tag != _implicit_tag(loader, node):
        raise YamlError(
            f"explicit YAML tag {_tag_name(node.tag)} is not allowed; write plain values (a string in quotes)",
            node.start_mark.line + 1,
        )
    size = 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            size += _expanded_size(loader, k, memo, depth + 1) + _expanded_size(loader, v, memo, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            size += _expanded_size(loader, item, memo, depth + 1)
    memo[key] = size
    return size


def _tag_name(tag: str) -> str:
    short = "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag
    return repr(short if len(short) <= 40 else short[:37] + "...")


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
        # Every explicit tag starts with "!": without one in the text there is none to look for.
        if _expanded_size(loader if "!" in text else None, root, {}) > MAX_EXPANDED_NODES:
            raise YamlError(
                f"document expands to more than {MAX_EXPANDED_NODES} nodes through aliases",
                root.start_mark.line + 1,
            )
        duplicates: list[tuple[str, int]] = []
        _duplicate_keys(root, set(), duplicates)
        data = loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem and exc.context_mark is not None and exc.problem_mark is not None:
            problem = f"{exc.context} (line {exc.context_mark.line + 1}), {problem}"
        # libyaml puts "end of stream" past the last line; blame the last line instead
        line = min(mark.line + 1, _last_line(text)) if mark is not None else 1
        raise YamlError(f"invalid YAML: {_one_line(problem)}", line) from None
    except yaml.reader.ReaderError as exc:
        raise YamlError(_reader_message(exc), _line_at_byte(text, exc.position)) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {_one_line(str(exc))}", 1) from None
    except RecursionError:
        raise YamlError("invalid YAML: the document nests too deeply", 1) from None
    finally:
        loader.dispose()
    return YamlDocument(path, data, root, duplicates)


# What YAML counts as a line break (its marks count lines by these).
_BREAKS = re.compile("\r\n|[\n\r\x85\u2028\u2029]")
_FINAL_BREAK = re.compile("[\n\r\x85\u2028\u2029]\\Z")


def _last_line(text: str) -> int:
    """The number of the last line holding text (a final line break starts no line)."""
    breaks = len(_BREAKS.findall(text))
    return max(1, breaks if _FINAL_BREAK.search(text) else breaks + 1)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _reader_message(exc: yaml.reader.ReaderError) -> str:
    char = exc.character
    code = ord(char) if isinstance(char, str) and len(char) == 1 else char if isinstance(char, int) else None
    what = f"character U+{code:04X}" if code is not None else "a character"
    return f"invalid YAML: {what} is not allowed in YAML text ({_one_line(str(exc.reason))})"


def _line_at_byte(text: str, position: int) -> int:
    """libyaml counts positions in UTF-8 bytes."""
    return text.encode("utf-8", "surrogatepass")[: max(position, 0)].count(b"\n") + 1


def read_source(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise YamlError(f"cannot read file: {exc.strerror or type(exc).__name__}") from None


def load_yaml(path: Path, raw: bytes | None = None) -> YamlDocument:
    """Parse the file at `path` (or its bytes `raw`, already read)."""
    raw = read_source(path) if raw is None else raw
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        hint = "; it looks like UTF-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise YamlError(f"file is not UTF-8 (byte {exc.start}, 0x{raw[exc.start]:02x}){hint}", line) from None
    if text.startswith("\ufeff"):
        text = text[1:]  # a UTF-8 byte order mark is allowed, and not part of the text
    return parse_yaml(text, path)
