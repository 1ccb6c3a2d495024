"""Per-file facts: everything the rules need from one file, as plain data.

A file is parsed once (extract.py) and reduced to a FileFacts. Facts never refer to
other files; names are left symbolic (a ``Value`` tree) and resolved later by the
cross-file join (resolve.py). That split is what lets facts be cached by content
hash and computed in parallel.

Records here, and in every module, are msgspec Structs rather than dataclasses:
a dataclass compiles its methods when its class is made, which cost a warm run a
fifth of its time (benchmarks/README.md).
"""

from __future__ import annotations

from msgspec import Struct, field

# (line, column, end_line, end_column), 1-based, as the contract reports them.
Span = tuple[int, int, int, int]


# --- Values: a static expression the resolver can evaluate ------------------------
# Tagged (tag=True): the cache decodes a Value by the name of its record (cache.py).


class Str(Struct, frozen=True, tag=True):
    """A string literal (implicitly concatenated pieces already joined)."""

    text: str
    span: Span


class Num(Struct, frozen=True, tag=True):
    value: float | int


class Name(Struct, frozen=True, tag=True):
    """A bare name, looked up in the module's bindings and imports."""

    id: str


class Attr(Struct, frozen=True, tag=True):
    """``base.attr``: a module attribute, class attribute or enum member."""

    base: Value
    attr: str


class SelfAttr(Struct, frozen=True, tag=True):
    """``self.attr`` / ``cls.attr`` inside a method of class ``cls_name`` (in this module)."""

    cls_name: str
    attr: str


class Subscript(Struct, frozen=True, tag=True):
    """``base[key]`` with a constant key."""

    base: Value
    key: str | int


class Env(Struct, frozen=True, tag=True):
    """``os.getenv("VAR", default)`` and friends; default is None when absent."""

    var: str
    default: Value | None


class Param(Struct, frozen=True, tag=True):
    """A function parameter; default is None when the parameter has none."""

    function: str  # qualified name inside the module, e.g. "Agent.run"
    name: str
    default: Value | None


class Concat(Struct, frozen=True, tag=True):
    """An f-string or ``+`` concatenation; parts are Values (Str for fixed text)."""

    parts: tuple[Value, ...]


class DictV(Struct, frozen=True, tag=True):
    items: tuple[tuple[str, Value], ...]


class SeqV(Struct, frozen=True, tag=True):
    """A list/tuple/set literal, or the arguments of ``Literal[...]``."""

    items: tuple[Value, ...]


class OneOf(Struct, frozen=True, tag=True):
    """A value that is one of several (``a if c else b``, ``x or y``)."""

    options: tuple[Value, ...]


class CallV(Struct, frozen=True, tag=True):
    """``func(args...)`` whose result the resolver may understand (an Enum lookup)."""

    func: Value
    args: tuple[Value, ...]


class Unknown(Struct, frozen=True, tag=True):
    """Not knowable statically; ``origin`` says where the value comes from, for OG106."""

    origin: str


Value = Str | Num | Name | Attr | SelfAttr | Subscript | Env | Param | Concat | DictV | SeqV | OneOf | CallV | Unknown


def dotted_name(value: Value, unknown: str = "...") -> str:
    """`a.b.c` for a chain of names and attributes (`self.x` for an attribute of self or
    cls, a parameter by its name); `unknown` stands for any other part."""
    if isinstance(value, Name):
        return value.id
    if isinstance(value, Param):
        return value.name
    if isinstance(value, SelfAttr):
        return f"self.{value.attr}"
    if isinstance(value, Attr):
        return f"{dotted_name(value.base, unknown)}.{value.attr}"
    return unknown


# --- What a file contains ---------------------------------------------------------


class ImportFact(Struct, frozen=True):
    """``import a.b as c`` -> local="c", module="a.b", name=None, level=0.
    ``from ..x import Y as Z`` -> local="Z", module="x", name="Y", level=2."""

    local: str
    module: str
    name: str | None
    level: int
    span: Span


class ClassFacts(Struct):
    name: str  # qualified inside the module ("Outer.Inner")
    bases: tuple[Value, ...]
    attrs: dict[str, Value]
    is_enum: bool
    span: Span  # of the class name (where it is defined)


class ModelArg(Struct):
    """One argument of a call that carries (or may carry) a model."""

    key: str  # "model", "model_name", "modelId", "fallback_model", "0" for positional ...
    value: Value
    span: Span
    # True where a Claude SDK takes the bare aliases "opus" / "sonnet" / "haiku".
    accepts_short_alias: bool = False


class CallSignals(Struct, omit_defaults=True):
    """What a call's own code says about the work it asks for. Only `opusguard report`
    reads it (to price the call and to advise on over-provisioned Opus), never a rule."""

    in_loop: bool = False  # inside a for/while loop or a comprehension
    stream: bool = False  # `.stream(...)` or stream=True
    max_tokens: int | None = None  # a literal, here or in a settings dict (Bedrock inferenceConfig ...)
    temperature: float | None = None
    system: str | None = None  # the system prompt the call writes (its first 300 characters)
    tools: int | bool | None = None  # how many tools a list literal gives; True for another value
    # Structured output, by the keyword that asks for it.
    response_format: bool = False
    output_type: bool = False
    tool_choice: bool = False
    response_model: bool = False
    output_format: bool = False
    # The fields above that are set, in the order the call first gives them (the
    # report's JSON lists them so).
    order: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        """The signals that are set, in the call's order."""
        return {key: getattr(self, key) for key in self.order}


class CallFact(Struct):
    span: Span  # the whole call expression
    callee: str  # as written, dotted: "client.messages.create", "ChatAnthropic"
    callee_value: Value  # Name/Attr chain, for resolving imports to a qualified name
    sink: str | None  # which known SDK shape this is ("anthropic.messages.create"), None if generic
    model_args: list[ModelArg]
    # First positional argument when it is a string literal (route("task")).
    first_arg: Str | None
    function: str | None  # enclosing function qualname, for task names
    # What the call's code says about its work, for the report.
    signals: CallSignals = field(default_factory=CallSignals)
    # The prompt as values the resolver can read (("system", v), ("messages", v),
    # ("prompt", v)): templates in f-strings, `.format` and module constants.
    prompts: list[tuple[str, Value]] = field(default_factory=list)


class LiteralFact(Struct):
    """A string literal in code (not a comment or docstring) that names a Claude model."""

    text: str
    span: Span
    # Where it sits, for OG101's message: "assignment to OPUS_MODEL", "argument model=" ...
    context: str = ""
    # An f-string with a Claude id's fixed part (f"claude-opus-4-{VERSION}"): the
    # resolver evaluates it; `text` is then the f-string as written.
    value: Value | None = None


class Annotation(Struct):
    """``# opusguard: task=NAME`` / ``# opusguard: ignore[...]`` that applies to one line."""

    task: str | None = None
    ignore: frozenset[str] | None = None  # None: no ignore; empty set: ignore everything
    comment_line: int = 0  # where the comment is written (for unused-ignore reports)


class FileFacts(Struct):
    path: str  # as discovered (relative, '/')
    parse_error: str | None = None  # "line 3: invalid syntax" -> OG000
    parse_error_line: int = 1
    imports: list[ImportFact] = field(default_factory=list)
    bindings: dict[str, Value] = field(default_factory=dict)  # module-level names
    classes: dict[str, ClassFacts] = field(default_factory=dict)
    functions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # qualname -> params
    calls: list[CallFact] = field(default_factory=list)
    literals: list[LiteralFact] = field(default_factory=list)
    annotations: dict[int, Annotation] = field(default_factory=dict)  # by target line
    lines: dict[int, str] = field(default_factory=dict)  # source lines findings point at
    # Attributes of a class (by qualname) assigned in its code that was not parsed,
    # and module-level names whose assignment was not parsed (selection.py); before
    # it reads one of them, the resolver asks for the facts of the statements that
    # bind it (core.OnDemand).
    cut_attributes: dict[str, frozenset[str]] = field(default_factory=dict)
    cut_names: frozenset[str] = frozenset()
    # A notebook's facts are in the lines of its joined code cells: (first line,
    # cell number) of each code cell maps them back (notebook.py). Empty for Python.
    cells: list[tuple[int, int]] = field(default_factory=list)
