"""Calls that take a model, and model literals: what the rules check.

One concern of the facts collector (extract.py): each call that passes (or may
pass) a model becomes a CallFact (its model arguments, the router's task, the
SDK shape it matches, and its signals for the report: extract_signals.py); each
string literal that names a Claude model a LiteralFact, with where it sits.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import libcst as cst

from opusguard.base.tiers import SHORT_ALIASES
from opusguard.facts import sinks
from opusguard.facts.extract_signals import CallSignalReader
from opusguard.facts.extract_values import dotted, string_value
from opusguard.facts.records import (
    Attr,
    CallFact,
    DictV,
    LiteralFact,
    ModelArg,
    Name,
    OneOf,
    Span,
    Str,
    Unknown,
    dotted_name,
)

# A catalogue of models in one string: every item looks like a model id (no
# spaces, no quotes or brackets; a digit or a hyphen in it), so prose, JSON and
# command lines are not catalogues.
_CATALOGUE_ITEM = re.compile(r"[^\s,]+")
_ID_LIKE = re.compile(r"[A-Za-z0-9~][\w.:/@~+-]*\Z")
_CATALOGUE_SEPARATORS = re.compile(r"[\s,]")


def catalogue_ids(text: str, is_model_id: Callable[[str], bool]) -> list[str]:
    """The Claude ids of a string that lists model ids ("claude-a\nclaude-b", "a, b"),
    in order; empty for anything else."""
    if not _CATALOGUE_SEPARATORS.search(text):
        return []
    items = _CATALOGUE_ITEM.findall(text)
    if len(items) < 2 or len(items) > 2000:
        return []
    for item in items:
        if not _ID_LIKE.match(item) or not any(c.isdigit() or c == "-" for c in item):
            return []
    return [item for item in items if "claude" in item.lower() and is_model_id(item)]


class CallSiteFacts(CallSignalReader):
    context: list[str]  # where a literal sits: "assignment to X", "argument model=" ...
    docstrings: set[int]  # ids of the docstring nodes of the tree being read
    raised: set[int]  # ids of the calls that make a raised exception (`raise Error(model=m)`)

    # -- where a literal stands --

    def visit_Assign(self, node: cst.Assign) -> None:
        self.context.append("assignment to " + ", ".join(dotted(t.target) for t in node.targets))

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self.context.append("assignment to " + dotted(node.target))

    def close_assignment(self) -> None:
        self.context.pop()

    # -- literals --

    def mark_docstring(self, body: cst.BaseSuite | cst.Module) -> None:
        statements = body.body if isinstance(body, (cst.Module, cst.IndentedBlock)) else ()
        if not statements:
            return
        first = statements[0]
        if isinstance(first, cst.SimpleStatementLine) and first.body and isinstance(first.body[0], cst.Expr):
            value = first.body[0].value
            if isinstance(value, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
                self.docstrings.add(id(value))

    def visit_Module(self, node: cst.Module) -> None:
        if self.line_offset == 0:  # (a later piece's first statement is no docstring)
            self.mark_docstring(node)

    def visit_Arg(self, node: cst.Arg) -> None:
        self.context.append(f"argument {node.keyword.value}=" if node.keyword else "argument")

    def leave_Arg(self, original_node: cst.Arg) -> None:
        self.context.pop()

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        self._literal(node)

    def visit_ConcatenatedString(self, node: cst.ConcatenatedString) -> bool:
        self._literal(node)
        return False  # its pieces are not literals of their own

    def visit_FormattedString(self, node: cst.FormattedString) -> None:
        if all(isinstance(part, cst.FormattedStringText) for part in node.parts):
            self._literal(node)
        elif id(node) not in self.docstrings:
            self._built_literal(node)

    def _literal(self, node: cst.BaseExpression) -> None:
        if id(node) in self.docstrings:
            return
        text = string_value(node)
        if text is None or ("laude" not in text and "LAUDE" not in text):  # claude, Claude, CLAUDE
            return
        context = self.context[-1] if self.context else ""
        if self.is_model_id(text):
            self.facts.literals.append(LiteralFact(text, self.span(node), context))
            return
        # A catalogue: several ids in one string, one a line or comma-separated,
        # later split into a list. Each id is a literal at its own place.
        found = catalogue_ids(text, self.is_model_id)
        if found:
            assert self.positions is not None
            raw, cursor = self.positions.text(node), 0
            for model_id in found:
                at = raw.find(model_id, cursor)
                span = self._span_inside(node, raw, at, len(model_id)) if at >= 0 else self.span(node)
                cursor = at + len(model_id) if at >= 0 else cursor
                self.facts.literals.append(LiteralFact(model_id, span, context or "a list of models in one string"))

    def _built_literal(self, node: cst.FormattedString) -> None:
        """f"claude-opus-4-{VERSION}": a literal once its names are resolved (resolve.py)."""
        texts = [part.value for part in node.parts if isinstance(part, cst.FormattedStringText)]
        if not any("claude" in text.lower() for text in texts) or any(c.isspace() for text in texts for c in text):
            return  # (prose with a model in it is a message, not a model)
        context = self.context[-1] if self.context else ""
        self.facts.literals.append(LiteralFact(self.code(node), self.span(node), context, value=self.value(node)))

    def _span_inside(self, node: cst.CSTNode, raw: str, offset: int, length: int) -> Span:
        """The span of `length` characters at `offset` of the node's code `raw`."""
        assert self.positions is not None
        line, column, _, _ = self.positions.range(node)
        newlines = raw.count("\n", 0, offset)
        if newlines:
            line += newlines
            column = offset - raw.rfind("\n", 0, offset) - 1
        else:
            column += offset
        line += self.line_offset
        if self.line_map is not None:
            line = self.line_map[line - 1]
        return (line, column + 1, line, column + 1 + length)

    # -- calls --

    def visit_Raise(self, node: cst.Raise) -> None:
        if isinstance(node.exc, cst.Call):
            self.raised.add(id(node.exc))

    def visit_Call(self, node: cst.Call) -> None:
        callee = self._callee_text(node.func)
        last = callee.rpartition(".")[2]
        sink = sinks.match_sink(tuple(callee.split(".")))
        if sink is None and id(node) in self.raised:
            return  # it builds the exception raised: the model keywords it is given are sent nowhere
        positional = [a for a in node.args if a.keyword is None and not a.star]
        model_args = self._declared_args(node, sink, positional)
        if last not in sinks.PASS_THROUGH:
            model_args += self._literal_args(positional, {ma.span for ma in model_args}, sink)
        if sink is not None:
            self._payload_args(node, model_args)
            if sink.needs_model_arg and not model_args:
                sink = None  # e.g. llama-index's Anthropic(...) vs the SDK client Anthropic(api_key=...)
        first_arg = self._route_task(positional) if last in self.router_names else None
        if sink is None and last not in sinks.PASS_THROUGH:
            model_args.extend(self._forwarded_args(node, positional, {ma.span for ma in model_args}))
        if first_arg is None and sink is None and not _may_send_a_model(model_args, last):
            return
        func_value = self.value(node.func) if isinstance(node.func, (cst.Name, cst.Attribute)) else Unknown(callee)
        self.facts.calls.append(
            CallFact(
                span=self.span(node),
                callee=callee,
                callee_value=func_value,
                sink=sink.name if sink else None,
                model_args=model_args,
                first_arg=first_arg,
                function=self.function_qualname(),
                signals=self.call_signals(node),
                prompts=self.call_prompts(node) if sink is not None or model_args else [],
            )
        )

    def _callee_text(self, func: cst.BaseExpression) -> str:
        """Dotted callee, with a local alias of its root spelled out:
        `api = client.beta.messages` ... `api.stream(...)` is `client.beta.messages.stream`."""
        text = dotted(func)
        root, _, rest = text.partition(".")
        local = self.lookup_local(root) if rest else None
        if isinstance(local, OneOf) and local.options:
            local = local.options[0]
        if isinstance(local, (Attr, Name)):
            return f"{dotted_name(local)}.{rest}"
        return text

    def _declared_args(self, node: cst.Call, sink: sinks.Sink | None, positional: list[cst.Arg]) -> list[ModelArg]:
        """The arguments a model is passed in: a model keyword, or one the SDK shape names."""
        short_alias = bool(sink and sink.short_alias)
        out: list[ModelArg] = []
        for arg in node.args:
            if arg.keyword is None:
                continue
            key = arg.keyword.value
            if key in sinks.MODEL_KEYWORDS or (sink and key in sink.keywords):
                out.append(ModelArg(key, self.value(arg.value), self.span(arg.value), short_alias))
        if sink is not None and sink.positional is not None and len(positional) > sink.positional:
            arg = positional[sink.positional]
            out.append(ModelArg(str(sink.positional), self.value(arg.value), self.span(arg.value), short_alias))
        return out

    def _literal_args(self, positional: list[cst.Arg], taken: set[Span], sink: sinks.Sink | None) -> list[ModelArg]:
        """Positional string arguments that are Claude ids."""
        out: list[ModelArg] = []
        for index, arg in enumerate(positional):
            text = string_value(arg.value)
            if text is None or "claude" not in text:
                continue
            span = self.span(arg.value)
            if span not in taken and self.is_model_id(text):
                out.append(ModelArg(str(index), Str(text, span), span, bool(sink and sink.short_alias)))
        return out

    def _route_task(self, positional: list[cst.Arg]) -> Str | None:
        """The router's first argument, when it is a string literal (route("task"))."""
        text = string_value(positional[0].value) if positional else None
        return Str(text, self.span(positional[0].value)) if text is not None else None

    def _forwarded_args(self, node: cst.Call, positional: list[cst.Arg], taken: set[Span]) -> list[ModelArg]:
        """Arguments a helper may pass on to a model-taking call (`make_options("opus")`,
        `ask(model)`), kept under "~" keys: the resolver reads them only when the
        callee passes that parameter to a model (resolve.py)."""
        out: list[ModelArg] = []
        for arg in node.args:
            if arg.star or not self._may_be_a_model(arg.value):
                continue
            span = self.span(arg.value)
            if span in taken:
                continue
            key = (
                arg.keyword.value
                if arg.keyword is not None
                else str(next(i for i, a in enumerate(positional) if a is arg))
            )
            out.append(ModelArg("~" + key, self.value(arg.value), span))
        return out

    def _may_be_a_model(self, expr: cst.BaseExpression) -> bool:
        """A string that is a model id or a short alias, or a name that says model."""
        if isinstance(expr, cst.SimpleString):
            raw = expr.raw_value  # (evaluating every string argument costs more than this test)
            if raw.lower() not in SHORT_ALIASES and "laude" not in raw and "LAUDE" not in raw:
                return False
            text = string_value(expr)
            return text is not None and (text.lower() in SHORT_ALIASES or self.is_model_id(text))
        if isinstance(expr, (cst.Name, cst.Attribute)):
            return bool(sinks.MODEL_LIKE_NAME.search(dotted(expr)))
        return False

    def _payload_args(self, node: cst.Call, out: list[ModelArg]) -> None:
        """Models an SDK call is given inside its other arguments."""
        for arg in node.args:
            if arg.star == "**":
                self._kwargs_models(arg, out)
            else:
                self._payload_models(arg.value, arg.keyword.value if arg.keyword else "arg", out)

    def _kwargs_models(self, arg: cst.Arg, out: list[ModelArg]) -> None:
        """`create(**params)`: the model key of a dict built in this function, else unknown."""
        if any(ma.key in sinks.MODEL_KEYWORDS for ma in out):
            return
        value = self.value(arg.value)
        options = value.options if isinstance(value, OneOf) else (value,)
        found = False
        for option in options:
            if isinstance(option, DictV):
                for key, item in option.items:
                    if key in sinks.PAYLOAD_MODEL_KEYS:
                        out.append(ModelArg(f"**.{key}", item, self.span(arg.value)))
                        found = True
        if not found:
            out.append(ModelArg("**", Unknown(f"keyword arguments **{self.code(arg.value)}"), self.span(arg.value)))

    def _payload_models(self, node: cst.BaseExpression, path: str, out: list[ModelArg], depth: int = 0) -> None:
        """Model ids nested in request payloads: batches `requests`, litellm `model_list`."""
        if depth > 6:
            return
        if isinstance(node, cst.Dict):
            self._payload_dict(node, path, out, depth)
        elif isinstance(node, (cst.List, cst.Tuple)):
            for index, item in enumerate(node.elements):
                if isinstance(item, cst.Element):
                    self._payload_models(item.value, f"{path}[{index}]", out, depth + 1)
        elif isinstance(node, (cst.ListComp, cst.GeneratorExp)):  # requests=[{...} for t in items]
            self._payload_models(node.elt, f"{path}[]", out, depth + 1)

    def _payload_dict(self, node: cst.Dict, path: str, out: list[ModelArg], depth: int) -> None:
        for element in node.elements:
            if not isinstance(element, cst.DictElement):
                continue
            key = string_value(element.key)
            if key in sinks.PAYLOAD_MODEL_KEYS:
                out.append(ModelArg(f"{path}.{key}", self.value(element.value), self.span(element.value)))
            elif key is not None:
                self._payload_models(element.value, f"{path}.{key}", out, depth + 1)


def _may_send_a_model(model_args: list[ModelArg], last: str) -> bool:
    """For a call that is neither an SDK shape nor the router: whether its arguments
    may carry a model (a helper that passes its arguments on must name one by keyword)."""
    if last in sinks.PASS_THROUGH:
        return any(ma.key in sinks.MODEL_KEYWORDS for ma in model_args)
    return bool(model_args)
