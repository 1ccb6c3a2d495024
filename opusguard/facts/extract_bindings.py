"""Scopes, bindings and imports: what a file defines, for the cross-file join.

One concern of the facts collector (extract.py): classes and functions (their
scopes and parameters), the value each name is given (module names, class and
self attributes; locals stay in their function's scope), and imports.

Import encoding: ``import a.b.c`` binds the local name ``a`` and is recorded as
ImportFact(local="a", module="a.b.c", name=None); the resolver follows an
attribute chain ``a.b.c.X`` through it. ``import a.b as c`` is (local="c",
module="a.b").
"""

from __future__ import annotations

import re

import libcst as cst

from opusguard.facts.extract_values import Scope, ValueReader, dotted
from opusguard.facts.records import ClassFacts, Concat, ImportFact, OneOf, Param, SeqV, Value

_ENUM_BASE = re.compile(r"(?:^|\.)\w*Enum$|(?:^|\.)(?:Flag|IntFlag)$")


class BindingFacts(ValueReader):
    # -- scopes --

    def open_class(self, node: cst.ClassDef) -> None:
        qualname = self._qualify(node.name.value)
        bases = tuple(self.value(arg.value) for arg in node.bases)
        is_enum = any(_ENUM_BASE.search(dotted(arg.value)) for arg in node.bases)
        self.facts.classes[qualname] = ClassFacts(qualname, bases, {}, is_enum, self.span(node.name))
        self.scopes.append(Scope("class", qualname, class_name=qualname))

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.scopes.pop()

    def open_function(self, node: cst.FunctionDef) -> None:
        qualname = self._qualify(node.name.value)
        enclosing_class = self.scope.class_name if self.scope.kind == "class" else None
        params: dict[str, Param] = {}
        ordered = [*node.params.posonly_params, *node.params.params, *node.params.kwonly_params]
        for param in ordered:
            default = None
            # `param=None` means "the caller decides": no default model to follow.
            if param.default is not None and not (
                isinstance(param.default, cst.Name) and param.default.value == "None"
            ):
                default = self.value(param.default)
            params[param.name.value] = Param(qualname, param.name.value, default)
        for star in (node.params.star_arg, node.params.star_kwarg):
            if isinstance(star, cst.Param):
                params[star.name.value] = Param(qualname, star.name.value, None)
        self.facts.functions[qualname] = tuple(params)
        is_static = any(dotted(d.decorator) == "staticmethod" for d in node.decorators)
        self_name = None
        if enclosing_class and ordered and not is_static:
            self_name = ordered[0].name.value
        self.scopes.append(Scope("function", qualname, params=params, class_name=enclosing_class, self_name=self_name))

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.scopes.pop()

    def _qualify(self, name: str) -> str:
        parent = self.scope.qualname
        return f"{parent}.{name}" if parent else name

    # branches: an assignment inside one makes the name one of several values
    def enter_branch(self, node: cst.CSTNode) -> None:
        self.scope.branch_depth += 1

    def leave_branch(self, original_node: cst.CSTNode) -> None:
        self.scope.branch_depth -= 1

    visit_If = enter_branch
    leave_If = leave_branch
    visit_Try = enter_branch
    leave_Try = leave_branch
    visit_Match = enter_branch
    leave_Match = leave_branch

    def visit_With(self, node: cst.With) -> None:
        # `with open("config.yaml") as f`: f is the file opened (the resolver reads config files).
        for item in node.items:
            if item.asname is not None and isinstance(item.asname.name, cst.Name):
                self._bind(item.asname.name, self.value(item.item))
        self.enter_branch(node)

    leave_With = leave_branch

    # -- bindings --

    def bind_assignment(self, node: cst.Assign) -> None:
        value = self.value(node.value)
        for target in node.targets:
            self._bind(target.target, value)

    def bind_annotated(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._bind(node.target, self.value(node.value))

    def leave_AugAssign(self, original_node: cst.AugAssign) -> None:
        if isinstance(original_node.operator, cst.AddAssign):
            self._bind(
                original_node.target, Concat((self.value(original_node.target), self.value(original_node.value)))
            )

    def _bind(self, target: cst.BaseExpression, value: Value) -> None:
        if isinstance(target, cst.Name):
            self._bind_name(target.value, value)
        elif isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name):
            func = self.function_scope()
            if func is not None and func.self_name == target.value.value and func.class_name:
                attrs = self.facts.classes[func.class_name].attrs
                previous = attrs.get(target.attr.value)
                attrs[target.attr.value] = OneOf((previous, value)) if previous is not None else value
        elif isinstance(target, (cst.Tuple, cst.List)) and isinstance(value, SeqV):
            elements = [e.value for e in target.elements if isinstance(e, cst.Element)]
            if len(elements) == len(value.items):
                for element, item in zip(elements, value.items):
                    self._bind(element, item)

    def _bind_name(self, name: str, value: Value) -> None:
        scope = self.scope
        if scope.kind == "module":
            table = self.facts.bindings
        elif scope.kind == "class":
            table = self.facts.classes[scope.qualname].attrs
        else:
            table = scope.locals
        previous = table.get(name)
        if previous is not None and scope.branch_depth > 0:
            value = OneOf((previous, value))
        table[name] = value

    # -- imports --

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            module = dotted(alias.name)
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            else:
                local = module.split(".")[0]
            self.facts.imports.append(ImportFact(local, module, None, 0, self.span(node)))

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        module = dotted(node.module) if node.module is not None else ""
        level = len(node.relative)
        if isinstance(node.names, cst.ImportStar):
            self.facts.imports.append(ImportFact("*", module, "*", level, self.span(node)))
            return
        for alias in node.names:
            name = dotted(alias.name)
            local = (
                alias.asname.name.value
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name)
                else name
            )
            self.facts.imports.append(ImportFact(local, module, name, level, self.span(node)))
