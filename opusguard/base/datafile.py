"""Reading the data files a run is given: the policy and its includes, evidence,
usage, prices and task maps. One way in for all of them (docs/security.md).

A data file is opened without blocking (a FIFO would otherwise wait for a writer
for ever), must then be a regular file (fstat of what was opened, so a rename in
between cannot swap it), no larger than its limit, and is read once. A file the
scanned repository names (an include, an evidence file) must also resolve,
symlinks followed, inside one of the allowed folders. YAML is composed by a safe
loader that counts the nodes the document stands for with every alias expanded,
and how deep it nests: an alias bomb or a ten-thousand-deep list is one error,
not minutes, gigabytes or a RecursionError.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import yaml

# A policy of 1,000 tasks is about 200 KiB; usage files list sites and can be longer.
MAX_DATA_BYTES = 1024 * 1024
MAX_USAGE_BYTES = 32 * 1024 * 1024
# Nodes a YAML document stands for with its aliases expanded (a 1,000-task policy
# has ~20,000), and how deep its collections nest.
MAX_YAML_NODES = 200_000
MAX_YAML_DEPTH = 64


class DataFileError(Exception):
    """A data file that cannot be used; str() is 'path:line: what is wrong'."""

    def __init__(self, path: str | Path, line: int, message: str, column: int | None = None):
        where = f"{path}:{line}" + (f":{column}" if column is not None else "")
        super().__init__(f"{where}: {message}")
        self.path, self.line, self.column, self.message = str(path), line, column or 1, message


def outside(path: Path, roots: Iterable[str | Path]) -> bool:
    """Whether `path`, symlinks followed, lies outside every folder of `roots`."""
    real = Path(os.path.realpath(path))
    return not any(real == Path(root) or Path(root) in real.parents for root in roots)


def read_data_file(
    path: str | Path,
    what: str,
    *,
    max_bytes: int = MAX_DATA_BYTES,
    roots: Iterable[str | Path] | None = None,
    encoding: str = "utf-8",
) -> str:
    """The text of data file `path` (`what`: "policy", "usage file", ...), or a DataFileError.

    With `roots` (real paths of folders), a path that resolves outside all of them
    is refused before it is opened."""
    path = Path(path)
    if roots is not None and outside(path, roots):
        raise DataFileError(
            path, 1, f"{what} is outside the project ({os.path.realpath(path)}); only files inside the project are read"
        )
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise DataFileError(path, 1, f"cannot read {what}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # a FIFO, a device (/dev/zero), a socket, a folder
            raise DataFileError(path, 1, f"cannot read {what}: not a regular file")
        if info.st_size > max_bytes:
            raise DataFileError(path, 1, f"{what} is {info.st_size:,} bytes, over the {_size(max_bytes)} limit")
        chunks, total = [], 0
        while True:  # read to the end, but never past the limit (the file may grow)
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise DataFileError(path, 1, f"{what} is over the {_size(max_bytes)} limit")
    except OSError as exc:
        raise DataFileError(path, 1, f"cannot read {what}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    try:
        return b"".join(chunks).decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataFileError(path, 1, f"{what} is not UTF-8 ({exc.reason})") from None


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n % (1024 * 1024) == 0 else f"{n:,} bytes"


def compose_yaml(text: str, path: str | Path, *, max_nodes: int = MAX_YAML_NODES) -> yaml.Node | None:
    """The YAML node tree of `text` (safe loader, bounded); None for an empty document."""
    import yaml

    try:
        loader = _bounded_loader_class()(text, max_nodes)  # checks the characters: may raise
        try:
            return loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, path) from None


def load_yaml(text: str, path: str | Path, *, max_nodes: int = MAX_YAML_NODES) -> tuple[Any, yaml.Node | None]:
    """The Python data of `text` (safe loader, bounded), and its root node."""
    import yaml

    try:
        loader = _bounded_loader_class()(text, max_nodes)  # checks the characters: may raise
        try:
            node = loader.get_single_node()
            return (loader.construct_document(node) if node is not None else None), node
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, path) from None


def _yaml_error(exc: Exception, text: str, path: str | Path) -> DataFileError:
    mark = getattr(exc, "problem_mark", None)
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, None)
    position = getattr(exc, "position", None)  # a ReaderError: a character YAML does not allow
    if mark is None and isinstance(position, int):
        line = text.count("\n", 0, position) + 1
        column = position - text.rfind("\n", 0, position)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return DataFileError(path, line, f"invalid YAML: {problem}", column)


_LOADER: Callable[[str, int], yaml.SafeLoader] | None = None


def _bounded_loader_class() -> Callable[[str, int], yaml.SafeLoader]:
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import yaml

    class BoundedSafeLoader(_Bounds, yaml.SafeLoader):
        """yaml.SafeLoader that refuses documents over a size (aliases expanded) or depth."""

    _LOADER = BoundedSafeLoader
    return _LOADER


# What _Bounds is mixed into (yaml is imported only when a YAML file is read).
if TYPE_CHECKING:
    _SafeLoader = yaml.SafeLoader
else:
    _SafeLoader = object


class _Bounds(_SafeLoader):
    """The bounds of BoundedSafeLoader, before yaml.SafeLoader in its bases: every
    node composed is counted, aliases as the nodes they stand for, and nesting."""

    def __init__(self, stream: str, max_nodes: int) -> None:
        super().__init__(stream)
        self.max_nodes = max_nodes
        self.expanded = 0
        self.depth = 0
        self.sizes: dict[int, int] = {}
        self.open_anchors: set[str] = set()

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        import yaml

        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self.open_anchors:  # a recursive value: no consumer expects one
                raise yaml.composer.ComposerError(None, None, "an alias inside the value it names", _mark(event))
            target = self.anchors.get(event.anchor)
            if target is not None:
                self._count(self._expanded_size(target), event)
            return super().compose_node(parent, index)
        self._count(1, event)
        self.depth += 1
        if self.depth > MAX_YAML_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nested more than {MAX_YAML_DEPTH} levels deep", _mark(event)
            )
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self.open_anchors.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1
            self.open_anchors.discard(anchor)

    def _count(self, n: int, event: yaml.Event) -> None:
        import yaml

        self.expanded += n
        if self.expanded > self.max_nodes:
            raise yaml.composer.ComposerError(
                None,
                None,
                f"more than {self.max_nodes:,} values with aliases expanded (an alias bomb?)",
                _mark(event),
            )

    def _expanded_size(self, node: yaml.Node) -> int:
        import yaml

        # Complete nodes only (aliases to open ones are refused), at most
        # MAX_YAML_DEPTH deep; each node's size is computed once.
        known = self.sizes.get(id(node))
        if known is not None:
            return known
        size = 1
        if isinstance(node, (yaml.SequenceNode, yaml.MappingNode)):
            for item in node.value:
                for child in item if isinstance(item, tuple) else (item,):
                    size += self._expanded_size(child)
        self.sizes[id(node)] = size
        return size


def _mark(event: yaml.Event) -> yaml.Mark:
    return cast("yaml.Mark", event.start_mark)  # the pure-Python loader's (the stubs allow libyaml's too)


def toml_module() -> ModuleType:
    """The TOML parser, imported only where there is a file to read."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    return tomllib
