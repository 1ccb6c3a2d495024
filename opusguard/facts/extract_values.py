"""An expression -> its Value (facts.py), read in the scopes open where it is written.

The base of the facts collector (extract.py): the state one walk of a tree shares
(where its nodes are, which scopes are open, the facts so far) and the reading of
expressions that every concern needs. Names local to a function are substituted
here (the last assignment before the use, branches as OneOf; parameters become
Param), so the facts hold only what the cross-file join needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import libcst as cst
from msgspec import Struct, field

from opusguard.facts.positions import Positions
from opusguard.facts.records import (
    Attr,
    CallV,
    Concat,
    DictV,
    Env,
    FileFacts,
    Name,
    Num,
    OneOf,
    Param,
    SelfAttr,
    SeqV,
    Span,
    Str,
    Subscript,
    Unknown,
    Value,
)

_ENV_GETTERS = {
    ("os", "getenv"),
    ("getenv",),
    ("os", "environ", "get"),
    ("environ", "get"),
    ("os", "environ", "setdefault"),
    ("environ", "setdefault"),
}
_FIELD_CALLS = {"Field", "field", "attrib", "attr.ib"}


def dotted(node: cst.BaseExpression) -> str:
    """`a.b.c` for Name/Attribute chains; calls show as `f()`; anything else `...`."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{dotted(node.value)}.{node.attr.value}"
    if isinstance(node, cst.Call):
        return f"{dotted(node.func)}()"
    if isinstance(node, cst.Subscript):
        return f"{dotted(node.value)}[]"
    return "..."


def string_value(node: cst.BaseExpression) -> str | None:
    """The text of a string literal (an f-string without expressions too); None for
    anything else."""
    if isinstance(node, cst.SimpleString):
        prefix = node.prefix.lower()
        if "b" in prefix:
            return None
        if "\r" not in node.value and "\0" not in node.value and ("r" in prefix or "\\" not in node.value):
            return node.raw_value  # what evaluation gives, without compiling the literal
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
        try:
            value = node.evaluated_value
        except Exception:  # odd escapes in exotic literals
            return None
        return value if isinstance(value, str) else None
    if isinstance(node, cst.FormattedString) and all(isinstance(part, cst.FormattedStringText) for part in node.parts):
        return "".join(part.value for part in node.parts if isinstance(part, cst.FormattedStringText))
    return None


class Scope(Struct):
    kind: str  # "module" | "class" | "function"
    qualname: str
    locals: dict[str, Value] = field(default_factory=dict)
    params: dict[str, Param] = field(default_factory=dict)
    class_name: str | None = None  # for methods: the class whose self/cls this is
    self_name: str | None = None  # first parameter of a method
    branch_depth: int = 0


class ValueReader(cst.CSTVisitor):
    """Reads expressions as Values; the concerns of the collector build on it."""

    def __init__(
        self,
        path: str,
        is_model_id: Callable[[str], bool],
        router_names: frozenset[str],
        line_map: tuple[int, ...] | None = None,
    ):
        super().__init__()
        self.positions: Positions | None = None
        self.line_offset = 0  # of the piece being read: its line 1 is line 1 + line_offset of the text
        # line_map[i]: the file's line of line i + 1 of the text read (a selection of the file), if any
        self.line_map = line_map
        self.facts = FileFacts(path=path)
        self.is_model_id = is_model_id
        self.router_names = router_names
        self.scopes: list[Scope] = [Scope("module", "")]

    def span(self, node: cst.CSTNode) -> Span:
        assert self.positions is not None  # (set while a tree is read)
        start_line, start_column, end_line, end_column = self.positions.range(node)
        start_line += self.line_offset
        end_line += self.line_offset
        if self.line_map is not None:  # positions in the selected text -> lines of the file
            start_line, end_line = self.line_map[start_line - 1], self.line_map[end_line - 1]
        return (start_line, start_column + 1, end_line, end_column + 1)

    def code(self, node: cst.CSTNode) -> str:
        text = cst.Module([]).code_for_node(node)
        text = " ".join(text.split())
        return text if len(text) <= 60 else text[:57] + "..."

    # -- scopes --

    @property
    def scope(self) -> Scope:
        return self.scopes[-1]

    def function_scope(self) -> Scope | None:
        for scope in reversed(self.scopes):
            if scope.kind == "function":
                return scope
        return None

    def function_qualname(self) -> str | None:
        scope = self.function_scope()
        return scope.qualname if scope else None

    def lookup_local(self, name: str) -> Value | None:
        for scope in reversed(self.scopes):
            if scope.kind == "function":
                if name in scope.locals:
                    return scope.locals[name]
                if name in scope.params:
                    return scope.params[name]
            elif scope.kind == "class":
                continue  # class bodies do not enclose method scopes
            else:
                break
        return None

    # -- values --

    def value(self, node: cst.BaseExpression | None) -> Value:
        if node is None:
            return Unknown("nothing")
        read = _READERS.get(type(node))
        return read(self, node) if read is not None else self._unknown(node)

    def _unknown(self, node: cst.BaseExpression) -> Value:
        return Unknown(f"expression {self.code(node)}")

    def _string(self, node: cst.BaseExpression) -> Value:
        text = string_value(node)
        return Str(text, self.span(node)) if text is not None else self._unknown(node)  # (bytes)

    def _formatted_string(self, node: cst.FormattedString) -> Value:
        text = string_value(node)
        if text is not None:
            return Str(text, self.span(node))
        parts: list[Value] = []
        span = self.span(node)
        for part in node.parts:
            if isinstance(part, cst.FormattedStringText):
                parts.append(Str(part.value, span))
            elif isinstance(part, cst.FormattedStringExpression):  # (the only other kind)
                parts.append(self.value(part.expression))
        return Concat(tuple(parts))

    def _number(self, node: cst.Integer | cst.Float) -> Value:
        try:
            return Num(node.evaluated_value)
        except Exception:
            return Unknown("number")

    def _name(self, node: cst.Name) -> Value:
        if node.value in ("None", "True", "False"):
            return Unknown(node.value)
        local = self.lookup_local(node.value)
        return local if local is not None else Name(node.value)

    def _attribute(self, node: cst.Attribute) -> Value:
        base = node.value
        if isinstance(base, cst.Name):
            func = self.function_scope()
            if func is not None and func.self_name == base.value and func.class_name:
                return SelfAttr(func.class_name, node.attr.value)
        return Attr(self.value(base), node.attr.value)

    def _dict(self, node: cst.Dict) -> Value:
        items = []
        for element in node.elements:
            if isinstance(element, cst.DictElement):
                key = string_value(element.key)
                if key is not None:
                    items.append((key, self.value(element.value)))
        return DictV(tuple(items))

    def _sequence(self, node: cst.List | cst.Tuple | cst.Set) -> Value:
        return SeqV(tuple(self.value(e.value) for e in node.elements if isinstance(e, cst.Element)))

    def _if_expression(self, node: cst.IfExp) -> Value:
        return OneOf((self.value(node.body), self.value(node.orelse)))

    def _boolean(self, node: cst.BooleanOperation) -> Value:
        if isinstance(node.operator, cst.Or):
            return OneOf((self.value(node.left), self.value(node.right)))
        return self.value(node.right)

    def _binary(self, node: cst.BinaryOperation) -> Value:
        if isinstance(node.operator, cst.Add):
            return Concat((self.value(node.left), self.value(node.right)))
        if isinstance(node.operator, cst.Divide) and string_value(node.right) is not None:
            # `folder / "config.yaml"`: a path, which Path.joinpath names (the resolver reads config files)
            return CallV(Attr(self.value(node.left), "joinpath"), (self.value(node.right),))
        return self._unknown(node)

    def _walrus(self, node: cst.NamedExpr) -> Value:
        return self.value(node.value)

    def _subscript(self, node: cst.Subscript) -> Value:
        chain = tuple(dotted(node.value).split("."))
        key_node = node.slice[0].slice if len(node.slice) == 1 else None
        key: str | int | None = None
        if isinstance(key_node, cst.Index):
            key = string_value(key_node.value)
            if key is None and isinstance(key_node.value, cst.Integer):
                key = int(key_node.value.evaluated_value)
        if chain[-2:] == ("os", "environ") or chain == ("environ",):
            return Env(key, None) if isinstance(key, str) else Unknown("env var (computed name)")
        if key is None:
            return Unknown(f"lookup {self.code(node)}")
        return Subscript(self.value(node.value), key)

    def _call(self, node: cst.Call) -> Value:
        chain = tuple(dotted(node.func).split("."))
        args = [a for a in node.args if a.keyword is None and not a.star]
        kwargs = {a.keyword.value: a.value for a in node.args if a.keyword is not None}
        if chain in _ENV_GETTERS or chain[-2:] in {("environ", "get"), ("environ", "setdefault")}:
            return self._env(args, kwargs)
        if chain[-1] == "get" and len(chain) > 1 and args:
            key = string_value(args[0].value)
            if key is not None:
                base = self.value(node.func.value) if isinstance(node.func, cst.Attribute) else Unknown("get")
                looked_up = Subscript(base, key)
                return OneOf((looked_up, self.value(args[1].value))) if len(args) > 1 else looked_up
        if chain[-1] in _FIELD_CALLS or ".".join(chain[-2:]) in _FIELD_CALLS:
            if "default" in kwargs:
                return self.value(kwargs["default"])
            if args:
                return self.value(args[0].value)
        if chain[-1] == "str" and len(args) == 1:
            return self.value(args[0].value)
        if isinstance(node.func, (cst.Name, cst.Attribute)):
            return CallV(self.value(node.func), tuple(self.value(a.value) for a in args))
        return Unknown(f"call to {self.code(node.func)}()")

    def _env(self, args: list[cst.Arg], kwargs: dict[str, cst.BaseExpression]) -> Value:
        """`os.getenv("VAR", default)` and friends."""
        name = string_value(args[0].value) if args else None
        default = args[1].value if len(args) > 1 else kwargs.get("default")
        if name is None:
            return Unknown("env var (computed name)")
        return Env(name, self.value(default) if default is not None else None)


# How `ValueReader.value` reads each kind of node (by exact type: libcst's node
# classes have no subclasses); any other kind is Unknown.
_READERS: dict[type, Callable[[ValueReader, Any], Value]] = {
    cst.SimpleString: ValueReader._string,
    cst.ConcatenatedString: ValueReader._string,
    cst.FormattedString: ValueReader._formatted_string,
    cst.Integer: ValueReader._number,
    cst.Float: ValueReader._number,
    cst.Name: ValueReader._name,
    cst.Attribute: ValueReader._attribute,
    cst.Subscript: ValueReader._subscript,
    cst.Call: ValueReader._call,
    cst.Dict: ValueReader._dict,
    cst.List: ValueReader._sequence,
    cst.Tuple: ValueReader._sequence,
    cst.Set: ValueReader._sequence,
    cst.IfExp: ValueReader._if_expression,
    cst.BooleanOperation: ValueReader._boolean,
    cst.BinaryOperation: ValueReader._binary,
    cst.NamedExpr: ValueReader._walrus,
}
