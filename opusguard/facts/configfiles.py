"""Committed config files (.env, YAML, TOML, JSON, INI): the Claude models they name.

A model written in a config file is a model choice made outside the policy, just
as one written in code. This module reads such files into ConfigFacts (the
model ids they hold, where, and under which keys) for three uses: OG109 lists
them, `report` shows them as an inventory, and the resolver follows a call's
model into them (`os.getenv("X")` with no default to `X=...` in a committed
`.env`; `yaml.safe_load(open("config.yaml"))["model"]` to that file's value).

Config files are untrusted input and only ever parsed: YAML is read as the safe
parser's events (no node or object is built, no tag is honoured, and an alias
is a reference that is never walked again, so an alias bomb costs what its
text costs); nothing is executed. A file is parsed only if its bytes mention
`claude` (a value that is not a Claude id is of no use here) and is not over
MAX_CONFIG_BYTES. A file that mentions one but cannot be parsed gets a one-line
warning naming file and line, and the run goes on.

"Committed" means discovered: a file .gitignore'd (a local `.env`, usually) or
excluded is never read. Files the resolver needs that the run did not discover
(a check of a few files, `--changed-since`) are read on demand under the same
rules.

Positions are 1-based lines and columns (in characters) of the value as written,
quotes included. YAML takes them from the parser's marks; JSON from a scan of
the validated text; .env and INI are line formats. TOML has no positions in
tomllib: a value is found by its quoted text, on the line of its key where it
is written `key = "..."`, else at its first unclaimed occurrence; two equal
values under keys of the same name may swap lines.
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from msgspec import Struct, field

from opusguard.base import limits
from opusguard.facts.records import Span

if TYPE_CHECKING:
    import yaml

    from opusguard.policy.config import Settings

IsModelId = Callable[[str], bool]

# Larger files (recorded API responses, data dumps) are not parsed; one warning says how many.
MAX_CONFIG_BYTES = 4 * 1024 * 1024
# Deeper nesting than this is not walked (JSON and YAML that deep is not configuration).
MAX_DEPTH = 64
# Source lines kept for findings are cut to this many characters (minified JSON).
MAX_LINE_CHARS = 240
# The globs discovery adds to `include` (and that the pre-commit hook's types cover).
CONFIG_GLOBS = (".env", ".env.*", "*.yaml", "*.yml", "*.toml", "*.json", "*.ini")
_SUFFIX_KINDS = {".yaml": "yaml", ".yml": "yaml", ".toml": "toml", ".json": "json", ".ini": "ini"}
# Loaders whose result the resolver reads keys of, by qualified name.
LOADERS = frozenset(
    {
        "yaml.safe_load",
        "yaml.load",
        "yaml.full_load",
        "yaml.safe_load_all",
        "json.load",
        "json.loads",
        "tomllib.load",
        "tomllib.loads",
        "tomli.load",
        "tomli.loads",
        "toml.load",
        "toml.loads",
    }
)
# What opens a file given its path: open(PATH), Path(PATH) (then .open() / .read_text()).
OPENERS = frozenset({"open", "io.open", "builtins.open", "codecs.open", "pathlib.Path", "pathlib.PurePath"})
FILE_METHODS = frozenset({"open", "read_text", "read_bytes", "read", "resolve", "absolute", "expanduser"})

Key = str | int


class ConfigValue(Struct, frozen=True):
    """A Claude model id written as a value in a config file."""

    keys: tuple[Key, ...]  # where: ("agent", "model"); ("CLAUDE_MODEL",) in .env; (section, option) in INI
    text: str
    span: Span


class ConfigFacts(Struct):
    path: str  # as shown (relative to the current folder, '/')
    kind: str  # "env" | "yaml" | "toml" | "json" | "ini"
    values: list[ConfigValue] = field(default_factory=list)
    error: str | None = None  # "invalid YAML: ..." (then values is empty)
    error_line: int = 1
    lines: dict[int, str] = field(default_factory=dict)  # source lines of the values, for findings


def with_config_globs(settings: Settings) -> Settings:
    """`settings` whose `include` also finds config files (for the walk)."""
    from msgspec.structs import replace

    return replace(settings, include=[*settings.include, *(g for g in CONFIG_GLOBS if g not in settings.include)])


def config_kind(name: str) -> str | None:
    """The format of a file by its name: .env, .env.example, x.yaml ...; None if not a config file."""
    if name.endswith(".py") and not name.startswith(".env."):
        return None  # (most names a walk meets: asked first, without splitext)
    suffix = os.path.splitext(name)[1].lower()
    if suffix in _SUFFIX_KINDS:
        return _SUFFIX_KINDS[suffix]
    if name == ".env" or name.startswith(".env."):
        return "env"
    return None


def is_config_path(path: str) -> bool:
    return config_kind(os.path.basename(path)) is not None


def keys_text(keys: tuple[Key, ...]) -> str:
    return "".join(f"[{key!r}]" for key in keys)


# --- parsing: bytes -> ConfigFacts (pure) ---------------------------------------------


def parse_config(content: bytes, path: str, is_model_id: Callable[[str], bool], kind: str | None = None) -> ConfigFacts:
    """The Claude model values of one config file. Never raises on bad input."""
    kind = kind or config_kind(os.path.basename(path)) or "env"
    facts = ConfigFacts(path=path, kind=kind)
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        facts.error, facts.error_line = f"not UTF-8 text ({exc.reason})", content.count(b"\n", 0, exc.start) + 1
        return facts
    try:
        found = list(_PARSERS[kind](text, is_model_id))
    except _ConfigError as exc:
        facts.error, facts.error_line = str(exc), exc.line
        return facts
    except (RecursionError, ValueError, IndexError) as exc:  # nested too deeply, or a parser's own surprise
        facts.error = f"cannot be read as {kind.upper()}: {type(exc).__name__}"
        return facts
    lines = text.splitlines()
    for value in found:
        facts.values.append(value)
        line = value.span[0]
        if 0 < line <= len(lines):
            # (shown in a terminal: control characters are written as escapes)
            facts.lines[line] = "".join(
                c if c.isprintable() or c == "\t" else repr(c)[1:-1] for c in lines[line - 1][:MAX_LINE_CHARS]
            )
    return facts


class _ConfigError(Exception):
    def __init__(self, message: str, line: int):
        super().__init__(message)
        self.line = max(1, line)


def _model_like(text: str, is_model_id: Callable[[str], bool]) -> bool:
    return "claude" in text and is_model_id(text)


def _env_values(text: str, is_model_id: IsModelId) -> Iterator[ConfigValue]:
    """KEY=value lines (`export` allowed, quotes, ` #` comments after unquoted values)."""
    for number, line in enumerate(text.splitlines(), 1):
        match = _ENV_LINE.match(line)
        if match is None:
            continue
        name, raw, start = match["name"], match["value"], match.start("value")
        if raw[:1] in ("'", '"'):
            end = raw.find(raw[0], 1)
            if end < 0:
                continue  # a value over several lines: not a model id
            value, width = raw[1:end], end + 1
        else:
            value = re.split(r"\s#", raw, maxsplit=1)[0].rstrip()
            width = len(value)
        if _model_like(value, is_model_id):
            yield ConfigValue((name,), value, (number, start + 1, number, start + 1 + width))


# The value ends at its last non-space (a lazy `.*?` before `\s*$` rescans a run of
# spaces from each of its characters: a long line took minutes).
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?(?P<name>[A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(?P<value>(?:.*\S)?)\s*$")


def _yaml_values(text: str, is_model_id: IsModelId) -> Iterator[ConfigValue]:
    """From the parser's events: no node is built, no tag resolved to an object, and
    an alias is a reference, never walked again (an alias bomb costs its text)."""
    import yaml

    try:
        found, documents = _yaml_found(text, is_model_id)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc) from None
    several = documents > 1
    for index, keys, value, span in found:
        yield ConfigValue((index, *keys) if several else keys, value, span)


def _yaml_found(text: str, is_model_id: IsModelId) -> tuple[list[tuple[int, tuple[Key, ...], str, Span]], int]:
    """(document number, keys, value, span) of the model ids in `text`, and how many
    documents it holds; raises yaml.YAMLError."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    found: list[tuple[int, tuple[Key, ...], str, Span]] = []
    stack: list[list] = []  # the open collections (see _path)
    document = 0
    for event in yaml.parse(text, Loader=loader):
        kind = type(event)
        if kind is yaml.DocumentEndEvent:
            document += 1
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            is_mapping = kind is yaml.MappingStartEvent
            stack.append([_path(stack), is_mapping, None if is_mapping else 0, is_mapping])
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            stack.pop()
            _advance(stack, None)
        elif isinstance(event, yaml.ScalarEvent):
            value = _yaml_scalar(stack, event, is_model_id)
            if value is not None:
                found.append((document, *value))
        elif kind is yaml.AliasEvent:
            _advance(stack, None)
    return found, document


def _yaml_scalar(
    stack: list[list], event: yaml.ScalarEvent, is_model_id: IsModelId
) -> tuple[tuple[Key, ...], str, Span] | None:
    """A scalar read: (keys, value, span) when it is a model id (a string value, not
    a key), else None; moves the innermost collection on."""
    if stack and stack[-1][1] and stack[-1][3]:
        _advance(stack, _yaml_key(event))
        return None
    keys = _path(stack)
    found = None
    if (
        keys is not None
        and len(stack) <= MAX_DEPTH
        and event.tag in (None, "!", "tag:yaml.org,2002:str")
        and _model_like(event.value, is_model_id)
    ):
        start, end = event.start_mark, event.end_mark
        assert start is not None and end is not None  # (the parser marks every event)
        found = (keys, event.value, (start.line + 1, start.column + 1, end.line + 1, end.column + 1))
    _advance(stack, None)
    return found


def _yaml_error(exc: yaml.YAMLError) -> _ConfigError:
    import yaml

    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        return _ConfigError(f"invalid YAML: {exc.problem or exc.context}", (mark.line + 1) if mark else 1)
    return _ConfigError(f"invalid YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", 1)


# The open collections of a YAML or JSON document, innermost last, each
# [keys of it (None: under a complex key), is a mapping, key or index, expecting a key]:


def _path(stack: list[list]) -> tuple[Key, ...] | None:
    """The keys of the value about to come; None under a key that is not a scalar."""
    if not stack:
        return ()
    keys, _, key, _ = stack[-1]
    return None if keys is None or key is None else (*keys, key)


def _advance(stack: list[list], key: Key | None) -> None:
    """A key or value of the innermost collection is done; `key` is the key just read."""
    if not stack:
        return
    top = stack[-1]
    if not top[1]:
        top[2] += 1
    elif top[3]:  # that was the key (None for an alias or a collection used as a key)
        top[2], top[3] = key, False
    else:
        top[2], top[3] = None, True


def _yaml_key(event: yaml.ScalarEvent) -> Key | None:
    if event.implicit[0] and re.fullmatch(r"[-+]?[0-9]+", event.value):
        return int(event.value)  # a plain integer key is an int, as safe_load makes it
    return event.value


def _json_values(text: str, is_model_id: IsModelId) -> Iterator[ConfigValue]:
    import json

    _check_json(text)
    if "claude" not in text:
        return
    starts = _line_starts(text)
    stack: list[list] = []  # the open containers (see _path: valid JSON has a key for each value)
    position = 0
    search = _JSON_STRUCTURE.search
    while (match := search(text, position)) is not None:
        char, position = match.group(), match.start()
        if char in "{[":
            stack.append([_json_path(stack), char == "{", 0 if char == "[" else None, char == "{"])
        elif char in "}]":
            stack.pop()
        elif char == ",":
            _advance(stack, None)
        else:  # a string
            value, end = json.decoder.scanstring(text, position + 1)  # type: ignore[attr-defined]
            if stack and stack[-1][1] and stack[-1][3]:
                _advance(stack, value)  # a key
            elif len(stack) <= MAX_DEPTH and _model_like(value, is_model_id):
                yield ConfigValue(_json_path(stack), value, (*_line_col(starts, position), *_line_col(starts, end)))
            position = end
            continue
        position += 1


def _check_json(text: str) -> None:
    """Raises _ConfigError unless `text` is valid JSON (the scan assumes it is)."""
    import json

    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise _ConfigError(f"invalid JSON: {exc.msg}", exc.lineno) from None
    except RecursionError:
        raise _ConfigError("invalid JSON: nested too deeply", 1) from None


# Where a container, a value or a key may start or end (a ":" changes nothing: the key was read).
_JSON_STRUCTURE = re.compile(r'[{}\[\],"]')


def _json_path(stack: list[list]) -> tuple[Key, ...]:
    if not stack:
        return ()
    top = stack[-1]
    return (*top[0], top[2])


def _line_starts(text: str) -> list[int]:
    return [0, *(match.end() for match in re.finditer("\n", text))]


def _line_col(starts: list[int], offset: int) -> tuple[int, int]:
    line = bisect.bisect_right(starts, offset)
    return line, offset - starts[line - 1] + 1


def _toml_values(text: str, is_model_id: IsModelId) -> Iterator[ConfigValue]:
    from opusguard.base.datafile import toml_module

    toml = toml_module()
    try:
        data = toml.loads(text)
    except toml.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise _ConfigError(f"invalid TOML: {str(exc).split(' (at')[0]}", int(match.group(1)) if match else 1) from None
    found = list(_walk_data(data, ()))
    if not found:
        return
    occurrences = _toml_occurrences(text)
    for keys, value in found:
        if not _model_like(value, is_model_id):
            continue
        places = occurrences.get(value)
        if not places:
            continue  # written as a multi-line string: no position to give
        last = keys[-1] if keys else ""
        place = next((p for p in places if p[3] == last), places[0])
        places.remove(place)
        yield ConfigValue(keys, value, (place[0], place[1], place[0], place[2]))


def _toml_occurrences(text: str) -> dict[str, list[tuple[int, int, int, str]]]:
    """Where each quoted string is written, in document order (not in a header, not a
    key): value -> [(line, start column, end column, key on the line)]."""
    occurrences: dict[str, list[tuple[int, int, int, str]]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("["):
            continue
        comment = line.find("#")  # (a string after a "#" is skipped, quoted or not)
        for match in _TOML_STRING.finditer(line):
            if _EQUALS_NEXT.match(line, match.end()) or 0 <= comment < match.start():
                continue
            raw = match.group(0)
            value = raw[1:-1] if raw[0] == "'" else _toml_basic(raw)
            if value is not None:
                key = _TOML_KEY.match(line)
                occurrences.setdefault(value, []).append(
                    (number, match.start() + 1, match.end() + 1, key["key"].strip("\"'") if key else "")
                )
    return occurrences


# A string does not start after a backslash: outside a string one stands only in a
# comment or a multi-line string, whose matches are dropped anyway, and `\"\"\"...`
# in a comment would start a scan to the line's end at each quote.
_TOML_STRING = re.compile(r'(?<!\\)"(?:[^"\\]|\\.)*"|\'[^\']*\'')
_EQUALS_NEXT = re.compile(r"\s*=")
_TOML_KEY = re.compile(r"""^\s*(?:[\w."'-]+\.)?(?P<key>"[^"]*"|'[^']*'|[\w-]+)\s*=""")


def _toml_basic(raw: str) -> str | None:
    import json

    try:
        return json.loads(raw)  # TOML's basic strings escape as JSON's do (but for \U and \e, rare in ids)
    except ValueError:
        return None


def _walk_data(data: object, keys: tuple[Key, ...]) -> Iterator[tuple[tuple[Key, ...], str]]:
    if len(keys) > MAX_DEPTH:
        return
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _walk_data(value, (*keys, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _walk_data(value, (*keys, index))
    elif isinstance(data, str):
        yield keys, data


def _ini_values(text: str, is_model_id: IsModelId) -> Iterator[ConfigValue]:
    import configparser

    too_long = next((n for n, line in enumerate(text.splitlines(), 1) if len(line) > limits.MAX_INI_LINE), None)
    if too_long is not None:
        raise _ConfigError(f"invalid INI: line longer than {limits.MAX_INI_LINE} characters, not read", too_long)
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        line = getattr(exc, "lineno", None) or 1
        raise _ConfigError(f"invalid INI: {exc.message.splitlines()[0]}", line) from None
    section = configparser.DEFAULTSECT
    for number, line in enumerate(text.splitlines(), 1):
        header = re.match(r"^\s*\[(?P<name>[^\]]+)\]", line)
        if header is not None:
            section = header["name"].strip()
            continue
        match = _INI_LINE.match(line)
        if match is None:
            continue
        raw, start = match["value"], match.start("value")
        value, width = raw, len(raw)
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
            value = raw[1:-1]
        if _model_like(value, is_model_id):
            yield ConfigValue(
                (section, match["key"].strip().lower()), value, (number, start + 1, number, start + 1 + width)
            )


# Key and value end at their last non-space (see _ENV_LINE).
_INI_LINE = re.compile(r"^(?P<key>[^\s#;\[=:](?:[^=:]*[^\s=:])?)\s*[=:]\s*(?P<value>(?:.*\S)?)\s*$")

_PARSERS = {"env": _env_values, "yaml": _yaml_values, "json": _json_values, "toml": _toml_values, "ini": _ini_values}


# --- the resolver's view of a run's config files ----------------------------------------


class ConfigView:
    """The config files a run reads, by shown path, and the resolver's view of them:
    the value of a key, a variable in the nearest `.env`, the file a literal path names.

    Where the files come from is the subclass's: configs_on_disk.ConfigFiles reads the
    committed ones from disk through the cache, core.analyze takes them from its sources."""

    def __init__(self, cwd: Path, root: Path, is_model_id: Callable[[str], bool]) -> None:
        self.cwd = cwd
        self.root = root
        self.is_model_id = is_model_id
        self.files: dict[str, ConfigFacts] = {}  # discovered and parsed, by shown path: the inventory
        self.warnings: list[str] = []
        self.too_large: list[str] = []
        self._on_demand: dict[str, ConfigFacts | None] = {}
        self._env_dirs: dict[str, list[ConfigFacts]] = {}

    # -- reading --

    def add_content(self, rel: str, content: bytes) -> None:
        """A config file given on stdin (--stdin-filename)."""
        kind = config_kind(os.path.basename(rel)) or "env"
        facts = self._parse(content, rel, kind)
        if facts is not None:
            facts.kind = facts.kind or kind
            self.files[rel] = facts

    def _parse(self, content: bytes, rel: str, kind: str | None = None) -> ConfigFacts | None:
        """Facts of `content` (kind "" when it mentions no Claude model); None if too large."""
        if b"claude" not in content:
            return ConfigFacts(path=rel, kind="")
        if len(content) > MAX_CONFIG_BYTES:
            self.too_large.append(rel)
            return None
        return self._loaded(parse_config(content, rel, self.is_model_id, kind), rel)

    def _loaded(self, facts: ConfigFacts, rel: str) -> ConfigFacts:
        facts.path = rel
        if facts.error is not None:
            self.warnings.append(f"{rel}:{facts.error_line}: {facts.error}; its models are not read")
        return facts

    def read_shown(self, rel: str) -> ConfigFacts | None:
        """Facts already read, by shown path (the path in a resolver's ConfigRef)."""
        return self.files.get(rel) or next(
            (facts for facts in self._on_demand.values() if facts is not None and facts.path == rel), None
        )

    def finish(self) -> list[str]:
        """The warnings of the run's reading (files that could not be parsed, or too large)."""
        if self.too_large:
            more = f" (and {len(self.too_large) - 1} more)" if len(self.too_large) > 1 else ""
            self.warnings.append(
                f"{self.too_large[0]}:1: config file over the {MAX_CONFIG_BYTES // 1048576} MiB limit{more}: "
                "its models are not read"
            )
            self.too_large = []
        warnings, self.warnings = self.warnings, []
        return warnings

    def inventory(self) -> dict[str, ConfigFacts]:
        """The discovered config files that name a Claude model."""
        return {path: facts for path, facts in sorted(self.files.items()) if facts.values}

    def read(self, absolute: str) -> ConfigFacts | None:
        """A file's facts, if the run may read it (a committed file)."""
        raise NotImplementedError

    def _env_files(self, directory: str) -> list[ConfigFacts]:
        """The `.env` files in `directory` the run may read."""
        raise NotImplementedError

    # -- the resolver's questions --

    def env_values(self, py_path: str, var: str) -> list[tuple[ConfigFacts, ConfigValue]]:
        """`var` as the nearest committed .env file(s) set it, looking from the code's folder
        up to the project root; empty if none does (or not to a Claude model)."""
        directory = os.path.dirname(os.path.abspath(os.path.join(self.cwd, py_path)))
        root = os.fspath(self.root.resolve())
        while True:
            found = [
                (facts, value) for facts in self._env_files(directory) for value in facts.values if value.keys == (var,)
            ]
            if found:
                return found
            parent = os.path.dirname(directory)
            if directory == root or parent == directory or not (directory + os.sep).startswith(root + os.sep):
                return []
            directory = parent

    def named_file(self, py_path: str, written: str, *, beside_code: bool = False) -> list[ConfigFacts]:
        """The committed config file(s) a literal path in code may name: relative to the
        project root, the current folder or the code's folder (a path is relative to
        wherever the program runs: each that exists is a candidate); with
        `beside_code`, only the code's folder (a path built from __file__)."""
        code_dir = os.path.dirname(os.path.abspath(os.path.join(self.cwd, py_path)))
        bases = [code_dir] if beside_code else [os.fspath(self.root), os.fspath(self.cwd), code_dir]
        out: list[ConfigFacts] = []
        seen: set[str] = set()
        for base in bases:
            candidate = os.path.normpath(os.path.join(base, written))
            if candidate in seen or not is_config_path(candidate):
                continue
            seen.add(candidate)
            facts = self.read(candidate)
            if facts is not None:
                out.append(facts)
        return out


def lookup(facts: ConfigFacts, keys: tuple[Key, ...]) -> ConfigValue | bool:
    """The value at `keys`; True if a value lies below them (a table), False if none does."""
    below = False
    for value in facts.values:
        if value.keys == keys:
            return value
        if value.keys[: len(keys)] == keys:
            below = True
    return below
