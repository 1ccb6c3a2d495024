"""Byte-level pre-filter: which files can matter, decided without parsing.

Most files of a real codebase never mention a Claude model. Phase 1 keeps files
that could hold a model id, a Claude SDK call, an annotation or a router call;
phase 2 keeps files that read a name which resolves to a model elsewhere and
make a model-taking call (`from app.config import OPUS` ... `model=OPUS`).
"""

from __future__ import annotations

import bisect
import functools
import re
from typing import NamedTuple

import ahocorasick_rs

from opusguard.base.strenum import StrEnum
from opusguard.facts import sinks

# What the verdicts are (the verdict index records them too).


class Verdict(StrEnum):
    """What a file's bytes make it (classify); the verdict index keeps the value."""

    PARSE = "parse"
    SECOND_PASS = "second"
    SKIP = "skip"


PARSE, SECOND_PASS, SKIP = Verdict.PARSE, Verdict.SECOND_PASS, Verdict.SKIP

# The words are found in one pass over the lowercased bytes by a multi-pattern
# search (SIMD, several GB/s): on the benchmark corpus (57 MB) a `bytes.find` per
# word took 0.29 s of CPU, a regex alternation 0.36 s, this 0.07 s, most of it
# lowercasing. Every spelling the recogniser accepts contains "claude".
_PARSE_WORDS = (b"claude", b"opusguard:", b"route(")
# The Claude Agent SDK's bare aliases at the end of a string ("opus"), which a
# helper may pass on to the SDK (`make_options("opus")`): the file is parsed.
_ALIAS_WORDS = (b'opus"', b"opus'", b'sonnet"', b"sonnet'", b'haiku"', b"haiku'")
# A Claude SDK call whose model is not written in the file (OG106) needs an SDK
# name and a model-taking call; the Agent SDK's AgentDefinition takes bare "opus".
# ("anthropi", not "anthropic": a word ending as another begins could hide it, see
# the test.)
_SDK_WORDS = (b"anthropi", b"bedrock")
_MODEL_CALL = re.compile(
    rb"\bmodel(?:_name|_id|Id)?\s*=|messages\.|invoke_model|converse|"
    rb"ChatAnthropic|init_chat_model|completion\(|Agent\(|dspy\.LM|\*\*"
)
# What a model-taking call writes: a model keyword ("model_id=", "modelId=" and
# "invoke_model" contain "odel", looked for as written, apart: SMART_MODEL alone is
# a name, not a call) or an SDK shape that takes the model positionally. `**kwargs`
# is not one: extraction follows `**` only into SDK calls, named here.
_MODEL_CALL_WORDS = (b"messages.", b"converse", b"completion(", b"agent(", b"dspy")
_AGENT_DEFINITION = b"agentdefinition"
# "odel" counts only as written (`model=`, `modelId=`, not MODEL); the search over
# lowered bytes finds every place it may be, and the file's own bytes there decide.
# (A `b"odel" in content` of its own took 40% of classifying: "o" is common.)
_MODEL_WORD = b"odel"
WORDS = (*_PARSE_WORDS, *_ALIAS_WORDS, *_SDK_WORDS, _AGENT_DEFINITION, *_MODEL_CALL_WORDS, _MODEL_WORD)
_MODEL_WORD_INDEX = WORDS.index(_MODEL_WORD)
# Leftmost-first is the kind of search that uses the SIMD prefilter; it reports
# non-overlapping matches, which is every occurrence because no word overlaps
# another (tests/test_prefilter.py checks it).
_WORD_SEARCH = ahocorasick_rs.BytesAhoCorasick(WORDS, matchkind=ahocorasick_rs.MATCHKIND_LEFTMOST_FIRST)


def classify(content: bytes) -> Verdict:
    """PARSE: the file may hold a model id, a Claude SDK call, an annotation or a
    router call. SECOND_PASS: it makes something like a model-taking call, which
    matters if it reads a name bound to a model elsewhere. SKIP: neither."""
    matches = _WORD_SEARCH.find_matches_as_indexes(content.lower())
    if not matches:
        return SKIP
    found = {WORDS[index] for index, _start, _end in matches}
    if any(word in found for word in _PARSE_WORDS) or any(word in found for word in _ALIAS_WORDS):
        return PARSE
    if any(word in found for word in _SDK_WORDS) and _MODEL_CALL.search(content) is not None:
        return PARSE
    if _AGENT_DEFINITION in found:
        return PARSE
    if any(word in found for word in _MODEL_CALL_WORDS):
        return SECOND_PASS
    if any(index == _MODEL_WORD_INDEX and content[start:end] == _MODEL_WORD for index, start, end in matches):
        return SECOND_PASS
    return SKIP


class HeldName(NamedTuple):
    """A name another file may read a model through: a module-level name bound to
    a model (`cls` empty), or an attribute of class `cls` that holds or receives
    one (read as `Cls.attr`, or as `self.attr` in a subclass)."""

    name: str
    module: str  # the last part of the defining module's dotted name
    cls: str = ""


def may_use_names(content: bytes, names: frozenset[HeldName]) -> bool:
    """Whether the file may read one of `names` through an import.

    Phase 2 looks only at files phase 1 sent to it (SECOND_PASS): those that make
    something like a model-taking call."""
    return bool(names) and classify(content) == SECOND_PASS and reads_names(content, names)


# What a file imports: (every identifier in the names part of an import, every part
# of an imported module's dotted name, whether anything is imported with `*`).
Imports = tuple[frozenset[bytes], frozenset[bytes], bool]


def reads_names(
    content: bytes, names: frozenset[HeldName], scanned: dict[str, Imports] | None = None, key: str = ""
) -> bool:
    """may_use_names for a file already known to make a model-taking call.

    A name from another module is read through an import: of the name itself (a
    re-export counts: `from pkg import SMART`), of its module (`import cfg`,
    `from app import cfg`, `from .cfg import X`) or of everything (`import *`).
    A class attribute is read through an import of its class, or of the class's
    module and the class's name in the file. Words that merely look the same (a
    class called `Model`, a local `model`) are not enough: the import decides.

    `scanned`: the imports of files scanned before, by `key` (a caller that asks
    again about the same bytes for new names scans each file's imports once)."""
    if not names:
        return False
    # The imports first: a name's word is searched for only if it may have come in;
    # common names ("id", "model") are in most files. A file whose imports were
    # scanned before is not searched again for the names (as many searches of the
    # whole file as batches of new names: a second of CPU on the dense corpus).
    imports = scanned.get(key) if scanned is not None else None
    if imports is None:
        if not _name_search(names).find_matches_as_indexes(content):
            return False
        imports = _imports_of(content)
        if scanned is not None:
            scanned[key] = imports
    imported_names, module_parts, star = imports
    words, held = _held_words(names)
    if not star and words.isdisjoint(imported_names) and words.isdisjoint(module_parts):
        return False  # (most files: no name, module or class of these came in)
    for encoded, module_bytes, cls_bytes in held:
        module_imported = star or module_bytes in module_parts or module_bytes in imported_names
        if not cls_bytes:
            came_in = encoded in imported_names or module_imported
        else:
            came_in = cls_bytes in imported_names or (module_imported and _word(cls_bytes).search(content) is not None)
        if came_in and encoded in content and _word(encoded).search(content):
            return True
    return False


# `from MODULE import NAMES` (parenthesised over lines, or to the end of the
# logical line) and `import MODULES`. Over-reading is safe (a file parsed for
# nothing); a missed import would drop a fact, so the patterns are loose: an
# import in a docstring or a string counts too.
#
# Each pattern starts with its word, and looks behind it for what may not come
# before (`from(?<![\w]from)`, not `(?<![\w])from`): a pattern that starts with a
# literal is searched for as one, ten times faster than a match tried at every byte.
#
# A backslash after `import` is a line continuation: the names come after it.
# The module part does not run past another `from` word, and a parenthesised list
# holds no "(" but in a comment (which runs to its newline): else each `from` of
# "from from from ..." and each "import (" without a ")" after it would scan on to
# the end of the file.
_FROM_IMPORT = re.compile(
    rb"from(?<![\w\x80-\xff]from)(?![\w\x80-\xff])"
    rb"((?:(?!(?<![\w\x80-\xff])from(?![\w\x80-\xff]))[\w\x80-\xff. \t\\\r\n])*?)(?<![\w\x80-\xff])import(?![\w\x80-\xff])"
    rb"(?:[ \t]|\\\r?\n)*(?:\(((?:[^()#]|#[^\n]*\n)*)\)|((?:[^\n;\\]|\\\r?\n)*))"
)
_IMPORT = re.compile(rb"import(?<![\w\x80-\xff.]import)(?:[ \t]|\\\r?\n)+((?:[^\n;(\\]|\\\r?\n)*)")
_IDENTIFIER = re.compile(rb"[A-Za-z_\x80-\xff][\w\x80-\xff]*")


def _imports_of(content: bytes) -> Imports:
    """What `content` imports (see Imports)."""
    names: set[bytes] = set()
    parts: set[bytes] = set()
    star = False
    for match in _FROM_IMPORT.finditer(content):
        parts.update(_IDENTIFIER.findall(match[1]))
        listed = match[2] if match[2] is not None else match[3]
        star = star or b"*" in listed
        names.update(_IDENTIFIER.findall(listed))
    for match in _IMPORT.finditer(content):
        parts.update(_IDENTIFIER.findall(match[1]))
    return frozenset(names), frozenset(parts), star


@functools.lru_cache(maxsize=16)
def _held_words(names: frozenset[HeldName]) -> tuple[frozenset[bytes], tuple[tuple[bytes, bytes, bytes], ...]]:
    """Every name, module and class of `names` (an import of none of them reads
    none), and each held name's (name, module, class) in bytes."""
    held = tuple((name.encode(), module.encode(), cls.encode()) for name, module, cls in names)
    return frozenset(word for words in held for word in words if word), held


@functools.lru_cache(maxsize=16)
def _name_search(names: frozenset[HeldName]) -> ahocorasick_rs.BytesAhoCorasick:
    return ahocorasick_rs.BytesAhoCorasick(
        sorted({held.name.encode() for held in names}), matchkind=ahocorasick_rs.MATCHKIND_LEFTMOST_FIRST
    )


def _whole_word(name: bytes) -> bytes:
    # Not \b: in a bytes pattern it knows only ASCII, and a name may be non-ASCII (UTF-8).
    # The name first, then what may not come before it (see _FROM_IMPORT): a search for a literal.
    literal = re.escape(name)
    return literal + rb"(?<![\w\x80-\xff]" + literal + rb")(?![\w\x80-\xff])"


@functools.lru_cache(maxsize=256)
def _word(name: bytes) -> re.Pattern[bytes]:
    return re.compile(_whole_word(name))


# What makes a function or statement worth parsing: "claude" or "odel" in any case,
# "opusguard:", an SDK shape's distinctive segment as a whole word (`messages` of
# messages.create: an alias `api = client.messages` is in the same function;
# `ChatAnthropic`, `converse` ...) or a call of the router (its name as a whole
# word, then "(": a variable or parameter called `route` adds nothing). Found with
# multi-pattern searches, not a regex alternation: a tenth of the time on the kept
# functions.
#
# An SDK shape's segment makes a call fact only where a call is written with it:
# before its "(" (`completion(`, `ChatAnthropic(`), or, for a shape of two or more
# segments, with a dot touching it (`client.messages.create`, and `api =
# client.messages`, whose `api.create(...)` the function reads through the alias).
# So selection keeps statements for those places only (TriggerLines.lines); a
# `messages=messages` elsewhere (half the SDK words of a chat library) is the
# word alone, kept apart (TriggerLines.loose) for selection's conservative checks.
_ANY_CASE_WORDS = (b"claude", b"odel", *_ALIAS_WORDS)
# What may stand between a called name and its "(": spaces, newlines (in brackets),
# backslash continuations, comments. A comment runs to its newline: one way to
# match any text (with `#[^\n]*` alone, "# # # ..." splits in 2**n ways before a failure).
_CALL_OPEN_BYTES = re.compile(rb"(?:\s|\\|#[^\n]*\n)*\(")
# A call of an SDK shape's name, parenthesised too (`(ChatAnthropic)(...)` is one).
_SINK_CALL_OPEN = re.compile(rb"(?:\s|\\|\)|#[^\n]*\n)*\(")
# A dot after a segment (`messages .create`, `(client.messages).create`), or before it.
_DOT_AFTER = re.compile(rb"(?:\s|\\|\)|#[^\n]*\n)*\.")
_SPACE_BEFORE = frozenset(b" \t\r\n\\")
_DOT = ord(".")


class _Triggers:
    def __init__(self, router_names: frozenset[str]):
        # (A router name that is not an identifier, "pkg.route", is looked for by its
        # last part, the name that is called.)
        sink_names = sorted({sink.suffix[0] for sink in sinks.SINKS})
        routers = sorted({part for name in router_names for part in re.split(r"\W+", name)[-1:] if part})
        self.any_case_bytes = ahocorasick_rs.BytesAhoCorasick(
            _ANY_CASE_WORDS, matchkind=ahocorasick_rs.MATCHKIND_LEFTMOST_FIRST
        )
        # Longest at each start: of two names starting at one place, the one that can
        # end at a word boundary (AgentDefinition, not Agent). Names are identifiers, so a name
        # starting inside another cannot start a word: nothing that counts is hidden.
        # The router's name is one of them; a match of it counts only before a "(".
        names = sorted({*sink_names, *routers})
        self.routers = frozenset(names.index(router) for router in routers if router not in sink_names)
        # (index -> True: a first segment of a longer shape, which a dot must touch;
        # False: a name that is called)
        self.segment = {names.index(name): name in sinks.SEGMENT_NAMES for name in sink_names}
        self.names_bytes = ahocorasick_rs.BytesAhoCorasick(
            [n.encode() for n in names], matchkind=ahocorasick_rs.MATCHKIND_LEFTMOST_LONGEST
        )


@functools.lru_cache(maxsize=16)
def _triggers(router_names: frozenset[str]) -> _Triggers:
    return _Triggers(router_names)


_WORD_BYTE = re.compile(rb"\w")  # as a bytes regex's \b sees it: ASCII


_NEWLINE = re.compile(rb"\n")


def trigger_lines(
    source: bytes, router_names: frozenset[str] = frozenset({"route"}), names: frozenset[str] = frozenset()
) -> list[int]:
    """The lines (1-based, sorted) that hold a trigger: "claude" in any case, "odel"
    in any case where a fact may read it (a model keyword, an argument that says
    model: _ModelWordReads), a bare Agent SDK alias, "opusguard:", an SDK shape's
    distinctive name where a call is written with it (see _ANY_CASE_WORDS), a call of
    the router, or one of `names` as a whole word. A statement in a function whose
    lines hold none cannot add a call or literal fact (selection.py: but for one
    read through an alias)."""
    kinds = trigger_line_kinds(source, router_names, names)
    return sorted({*kinds.lines, *kinds.maybe})


class TriggerLines(NamedTuple):
    # The lines with a trigger other than "odel": what keeps a statement wherever
    # it stands (a plain string too: a docstring that mentions "the model" holds
    # nothing to read).
    lines: list[int]
    # The lines with an SDK shape's name as a whole word where no call is written
    # with it (`messages=messages`): lines + loose is where any trigger word stands.
    loose: list[int] = []
    # `lines` with the model word wherever it stands: what keeps a module or class
    # level binding (one left out is parsed on demand when read, a costlier way).
    anywhere: list[int] = []
    # The lines (not in `lines`) where the model word may stand where a fact reads
    # it (_ModelWordReads): whether it does there, selection asks CPython's tree
    # (`ask(model=m)` and `ask(self.get_model().name)` yes, `model = m` and
    # `{"k": model, ...}` no).
    maybe: list[int] = []


def trigger_line_kinds(
    source: bytes, router_names: frozenset[str] = frozenset({"route"}), names: frozenset[str] = frozenset()
) -> TriggerLines:
    """trigger_lines, by kind."""
    triggers = _triggers(router_names)
    model_word = _ANY_CASE_WORDS.index(_MODEL_WORD)
    offsets: list[int] = []
    model_word_offsets: list[int] = []
    loose_offsets: list[int] = []
    for index, start, _end in triggers.any_case_bytes.find_matches_as_indexes(source.lower()):
        (model_word_offsets if index == model_word else offsets).append(start)
    at = source.find(b"opusguard:")
    while at >= 0:
        offsets.append(at)
        at = source.find(b"opusguard:", at + 1)
    end_of_text = len(source)
    for index, start, end in triggers.names_bytes.find_matches_as_indexes(source):
        if (start == 0 or not _WORD_BYTE.match(source, start - 1)) and (
            end == end_of_text or not _WORD_BYTE.match(source, end)
        ):
            segment = triggers.segment.get(index)
            if segment is None:
                if index not in triggers.routers or _CALL_OPEN_BYTES.match(source, end):
                    offsets.append(start)
            elif _dot_touches(source, start, end) if segment else _SINK_CALL_OPEN.match(source, end):
                offsets.append(start)
            else:
                loose_offsets.append(start)
    offsets += _name_offsets(source, names)  # (asked for by the resolver: a few, rarely)
    if not offsets and not model_word_offsets and not loose_offsets:
        return TriggerLines([], [], [], [])
    newlines = _newlines(source)
    lines = _lines_of(newlines, offsets)
    read = _ModelWordReads(source, newlines)
    maybe = _lines_of(newlines, [start for start in model_word_offsets if read.may_be_read(start)]) - lines
    anywhere = lines | _lines_of(newlines, model_word_offsets)
    return TriggerLines(
        sorted(lines), sorted(_lines_of(newlines, loose_offsets) - anywhere), sorted(anywhere), sorted(maybe)
    )


# Where the model word can make a fact in a function: a call's model keyword
# (`model=`, `model_id=`: extract_calls._declared_args), and an argument a helper
# may pass on, a name or attribute chain that says model (`ask(MODEL)`,
# `ask(llm=self.config.model)`: _forwarded_args). So it may be read where its
# identifier is followed by "=" (not "=="), or by ".name" links and then ",", ")",
# "(" or "[" (a chain through a call or subscript, `ask(self.get_model().name)`);
# spaces, continuations and comments may stand between. The bytes cannot tell
# `ask(model=m)` from `model = m`, nor `ask(model, q)` from `{"k": model, ...}`:
# selection asks CPython's tree at those places (TriggerLines.maybe). Elsewhere it
# makes no fact of its own (`BaseModel`, `self.model.generate()`, `return
# self.model`, `model: str`): a local it binds is kept where a kept statement reads
# it, an attribute it assigns is parsed on demand (cut_attributes), a parameter is
# recorded with its function, which is kept where it sends or passes the parameter
# on. At module and class level it counts anywhere (TriggerLines.anywhere).
_IDENTIFIER_REST = re.compile(rb"[\w\x80-\xff]*")
_SPACES = re.compile(rb"[ \t\r\n\\]*")
_COMMA, _CLOSE, _EQUALS, _HASH, _OPEN, _OPEN_SQUARE = (ord(c) for c in ",)=#([")


def _match_end(pattern: re.Pattern[bytes], source: bytes, at: int) -> int:
    match = pattern.match(source, at)
    return match.end() if match is not None else at  # (these patterns match the empty text)


class _ModelWordReads:
    """Whether each model word stands where a fact reads it (see above), in time
    linear in the source: what follows an identifier is decided once per place."""

    def __init__(self, source: bytes, newlines: list[int]):
        self.source = source
        self.newlines = newlines
        self.verdicts: dict[int, bool] = {}  # offset after an identifier -> may_be_read there
        self.after_comments: dict[int, int] = {}  # newline index -> significant() after it
        self.identifier = (0, 0)  # (start, end) of the last identifier measured

    def may_be_read(self, start: int) -> bool:
        """Whether the model word found at `start` ("odel", its "m" before it) may be
        read; words are asked for in order, so one long identifier is measured once."""
        first, end = self.identifier
        if not first <= start < end:
            end = _match_end(_IDENTIFIER_REST, self.source, start)
            self.identifier = (start, end)
        return self.after_identifier(end)

    def after_identifier(self, at: int) -> bool:
        # Iterative over a chain (`a.model.b.c)`), each place decided once.
        pending: list[int] = []
        verdict = False
        while True:
            known = self.verdicts.get(at)
            if known is not None:
                verdict = known
                break
            pending.append(at)
            following = self.significant(at)
            byte = self.source[following] if following < len(self.source) else -1
            if byte in (_COMMA, _CLOSE, _OPEN, _OPEN_SQUARE) or (
                byte == _EQUALS and self.source[following + 1 : following + 2] != b"="
            ):
                verdict = True
                break
            if byte != _DOT:
                break
            name_start = self.significant(following + 1)
            name_end = _match_end(_IDENTIFIER_REST, self.source, name_start)
            if name_end == name_start:
                break
            at = name_end
        for place in pending:
            self.verdicts[place] = verdict
        return verdict

    def significant(self, at: int) -> int:
        """The first offset from `at` that is not a space, a continuation or a comment."""
        source = self.source
        pending: list[int] = []
        while True:
            at = _match_end(_SPACES, source, at)
            if at >= len(source) or source[at] != _HASH:
                break
            # A comment runs to its newline (a "#" in a string is no comment, but
            # then the word is in a string: counting it too is a superset). What
            # follows a comment is decided once, for every word in it.
            index = bisect.bisect_left(self.newlines, at)
            known = self.after_comments.get(index)
            if known is not None:
                at = known
                break
            pending.append(index)
            at = self.newlines[index] + 1 if index < len(self.newlines) else len(source)
        for index in pending:
            self.after_comments[index] = at
        return at


def _dot_touches(source: bytes, start: int, end: int) -> bool:
    """Whether a dot stands right before or after source[start:end] (spaces, line
    continuations, a closing bracket or a comment after it between)."""
    before = start - 1
    while before >= 0 and source[before] in _SPACE_BEFORE:
        before -= 1
    return (before >= 0 and source[before] == _DOT) or _DOT_AFTER.match(source, end) is not None


def _name_offsets(source: bytes, names: frozenset[str]) -> list[int]:
    """Where each of `names` stands as a whole word."""
    return [match.start() for name in names for match in _word(name.encode()).finditer(source)]


def _newlines(source: bytes) -> list[int]:
    return [match.start() for match in _NEWLINE.finditer(source)]


def _lines_of(newlines: list[int], offsets: list[int]) -> set[int]:
    """The (1-based) lines the byte offsets are on (`newlines`: the source's, _newlines)."""
    return {bisect.bisect_left(newlines, offset) + 1 for offset in offsets}
