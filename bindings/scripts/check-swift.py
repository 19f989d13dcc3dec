#!/usr/bin/env python3
"""Static checks of Outpost's Swift code, for machines without a Swift compiler.

    check-swift.py [--generated FRESH_Outpost.swift] [--root REPO] [--verbose]

(`check-swift.sh` sets up the Python venv with tree-sitter and runs this; the path of a freshly
generated `Outpost.swift` may also come from `OUTPOST_GENERATED_SWIFT`.)

What it checks
1. Syntax. Every `.swift` file under `bindings/swift/` and `ios-demo/` (and the fresh generated
   file, when given) is parsed with the tree-sitter-swift grammar; every ERROR or MISSING node is
   a problem, printed as `file:line:col`.
2. The committed bindings are current. With `--generated`, the committed
   `bindings/swift/Sources/Outpost/Outpost.swift` must equal the fresh one byte for byte.
3. Every Outpost symbol the hand-written Swift uses exists. The API is read from the tree of the
   committed `Outpost.swift` (classes, structs, enums and their cases, protocols, extensions,
   functions, methods, properties, initialisers, with parameter labels and defaults), plus the
   public declarations of the hand-written wrapper (`Sources/Outpost/*.swift`), plus each module's
   own declarations (the tests see the test files' types, the demo its own). Then, in the wrapper,
   the tests and the demo:
   - type names: a name declared by the bindings is counted; an undeclared name that looks like
     ours (starts with `Outpost`, or is a near miss of a generated name) is a problem;
   - `Type.member` for our types (`OutpostError.WrongPassword`, `Value.text`, `SyncEvent.progress`);
   - `receiver.member` when the receiver's type is known (see "Types" below): the member must exist
     on that type, its protocols or its extensions (`client.sync(`, `summary.rowsPulled`);
   - argument labels of calls of our initialisers, methods, enum cases and global functions,
     against every overload (defaulted parameters may be left out; a trailing closure may fill any
     parameter);
   - implicit members (`.startsWith`, `.text(value:)`) passed to a parameter of one of our types,
     directly or inside an array or dictionary literal;
   - enum patterns (`case .progress(...)`, `catch OutpostError.WrongPassword(attemptsLeft:)`)
     when the matched type is known: the case exists, and the labels and arity agree;
   - hand-written types that adopt one of our protocols (`SyncObserver`, `PlatformKeyProvider`,
     ...) declare each requirement with the same name and argument labels.
   The summary line counts distinct symbols checked (a type, a `Type.member`, a call's labels).

Types (how a receiver's type is known). One pass per file with nested scopes, in source order:
parameters and properties with a type annotation; `let x = T(...)`; `let x = [try] [await]
r.m(...)` / `r.p` / `T.member` when `r`'s type is known and the member's declared type is one of
ours (optionals unwrapped); `if let` / `guard let`; `for x in` an array of ours; `catch let e as T`;
`self` inside a type or an extension. Anything else (closure parameters without annotations,
generic code, results of non-Outpost calls) is unknown, and members on unknown receivers are not
checked.

Limits. This is not a type checker: overloads are told apart by argument labels only (not by
argument types), return types and `async`/`throws` are not compared, access control is simplified
(everything in the generated file that is not private counts as visible to the wrapper; its
`public`/`open` declarations to the tests and the demo), and Apple SDK symbols are not known at all.
Names that exist in both an Apple SDK and the bindings (`Logger`, `Record`, ...) are treated as
ours: in a file that imports both modules the unqualified name is ambiguous to the compiler
anyway, so qualify the SDK one (`os.Logger`), which this script leaves alone. A passing run
means "parses, and every Outpost name it could resolve exists with those labels", never
"compiles".
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tree_sitter_swift
    from tree_sitter import Language, Node, Parser
except ImportError:  # pragma: no cover - check-swift.sh installs them
    sys.exit("check-swift: needs the Python packages tree-sitter and tree-sitter-swift (run check-swift.sh)")

PARSER = Parser(Language(tree_sitter_swift.language()))
GENERATED_REL = Path("bindings/swift/Sources/Outpost/Outpost.swift")
WRAPPER_DIR_REL = Path("bindings/swift/Sources/Outpost")
SCANNED_DIRS = ("bindings/swift", "ios-demo")
SKIPPED_DIRS = {".build", ".swiftpm", "DerivedData", "build", "OutpostFFI.xcframework"}
# Members every value has (Swift and Foundation protocol extensions the bindings' types adopt).
UNIVERSAL_MEMBERS = {"self", "hashValue", "hash", "localizedDescription", "description", "debugDescription"}
# Members of Optional, reachable by implicit member syntax where an optional of ours is expected.
OPTIONAL_MEMBERS = {"none", "some"}
IDENT_UPPER = re.compile(r"^[A-Z][A-Za-z0-9_]*$")


# ------------------------------------------------------------------------------------------------
# Declarations


@dataclass
class Param:
    label: str | None  # external label; None for `_`
    type: str
    has_default: bool


@dataclass
class Member:
    name: str
    kind: str  # func, init, case, property, type
    params: list[Param] | None = None  # None: not callable (a property, a case without data)
    type: str | None = None  # return type, property type; a case's enum
    static: bool = False
    where: str = ""
    stored: bool = False  # a stored property (not computed)
    initialised: bool = False  # a stored property with an initial value
    constant: bool = False  # `let`
    lenient: bool = False  # an initialiser whose labels are not known (a class's inherited ones)


@dataclass
class TypeDecl:
    name: str
    kind: str  # class, struct, enum, protocol, actor, extension
    members: dict[str, list[Member]] = field(default_factory=dict)
    inherits: list[str] = field(default_factory=list)
    where: str = ""

    def add(self, m: Member) -> None:
        self.members.setdefault(m.name, []).append(m)


@dataclass
class Api:
    types: dict[str, TypeDecl] = field(default_factory=dict)
    functions: dict[str, list[Member]] = field(default_factory=dict)
    type_names: set[str] = field(default_factory=set)  # every type name declared (incl. nested, aliases)

    def type(self, name: str) -> TypeDecl:
        if name not in self.types:
            self.types[name] = TypeDecl(name, "extension")
        return self.types[name]

    def merged(self, other: "Api") -> "Api":
        out = Api()
        for api in (self, other):
            for name, t in api.types.items():
                dst = out.type(name)
                if t.kind != "extension":
                    dst.kind, dst.where = t.kind, t.where
                dst.inherits += [i for i in t.inherits if i not in dst.inherits]
                for ms in t.members.values():
                    for m in ms:
                        dst.add(m)
            for name, fs in api.functions.items():
                out.functions.setdefault(name, []).extend(fs)
            out.type_names |= api.type_names
        return out

    def members(self, type_name: str, name: str, seen: set[str] | None = None) -> list[Member]:
        """`name` on `type_name`, its protocols and superclasses (as far as declared here)."""
        seen = seen or set()
        if type_name in seen or type_name not in self.types:
            return []
        seen.add(type_name)
        t = self.types[type_name]
        found = list(t.members.get(name, []))
        for parent in t.inherits:
            found += self.members(parent, name, seen)
        return found


def text(node: Node | None) -> str:
    return node.text.decode("utf-8", "replace") if node is not None and node.text is not None else ""


def loc(path: str, node: Node) -> str:
    return f"{path}:{node.start_point[0] + 1}:{node.start_point[1] + 1}"


def norm_type(t: str | None) -> str | None:
    """`Foo?`, `Foo!`, `Outpost.Foo` → `Foo`; arrays and dictionaries keep their brackets."""
    if not t:
        return None
    t = re.sub(r"\s+", "", t)
    t = re.sub(r"^(any|some)(?=[A-Z])", "", t)
    while t.endswith(("?", "!")):
        t = t[:-1]
    if t.startswith("(") and t.endswith(")") and "->" not in t and "," not in t:
        return norm_type(t[1:-1])
    if t.startswith("Outpost."):
        t = t[len("Outpost."):]
    return t


def element_type(t: str | None) -> str | None:
    t = norm_type(t)
    if t and t.startswith("[") and t.endswith("]") and ":" not in t:
        return norm_type(t[1:-1])
    return None


def dict_value_type(t: str | None) -> str | None:
    t = norm_type(t)
    if t and t.startswith("[") and t.endswith("]") and ":" in t:
        depth = 0
        for i, ch in enumerate(t[1:-1], start=1):
            if ch in "[(<":
                depth += 1
            elif ch in "])>":
                depth -= 1
            elif ch == ":" and depth == 0:
                return norm_type(t[i + 1:-1])
    return None


def visibility(node: Node) -> str | None:
    for c in node.children:
        if c.type == "modifiers":
            for m in c.children:
                if m.type == "visibility_modifier":
                    return text(m).split("(")[0]
    return None


def is_static(node: Node) -> bool:
    for c in node.children:
        if c.type == "modifiers":
            for m in c.children:
                if m.type == "property_modifier" and text(m) in ("static", "class"):
                    return True
    return False


def params_of(node: Node) -> list[Param]:
    out = []
    for c in node.children:
        if c.type != "parameter":
            continue
        external = c.child_by_field_name("external_name")
        names = [x for x in c.children if c.field_name_for_child(c.children.index(x)) == "name"]
        internal = names[0] if names else None
        ptype = names[1] if len(names) > 1 else None
        label = text(external) if external is not None else text(internal)
        out.append(Param(None if label == "_" else label, text(ptype), False))
    # Defaults are siblings of the parameter: `parameter = default_value`.
    i = -1
    for c in node.children:
        if c.type == "parameter":
            i += 1
        elif node.field_name_for_child(node.children.index(c)) == "default_value" and i >= 0:
            out[i].has_default = True
    return out


def return_type(node: Node) -> str | None:
    arrow = False
    for c in node.children:
        if c.type == "->":
            arrow = True
        elif arrow and c.is_named:
            return text(c)
    return None


def case_params(entry_params: Node) -> list[Param]:
    out: list[Param] = []
    pending: str | None = None
    for c in entry_params.children:
        if c.type == "simple_identifier":
            pending = text(c)
        elif c.is_named and c.type not in ("simple_identifier",):
            if c.type == "=":
                continue
            if entry_params.field_name_for_child(entry_params.children.index(c)) == "name" or c.type.endswith("_type"):
                out.append(Param(pending, text(c), False))
                pending = None
        elif c.type == "=" and out:
            out[-1].has_default = True
    return out


def property_names(node: Node) -> list[str]:
    names = []
    for i, c in enumerate(node.children):
        if node.field_name_for_child(i) == "name" and c.type == "pattern":
            b = c.child_by_field_name("bound_identifier")
            if b is not None:
                names.append(text(b))
    return names


def type_annotation(node: Node) -> str | None:
    for c in node.children:
        if c.type == "type_annotation":
            for t in c.children:
                if t.is_named:
                    return text(t)
    return None


def decl_name(node: Node) -> str:
    n = node.child_by_field_name("name")
    name = text(n)
    return re.sub(r"<.*", "", name).strip()


def collect(tree: Node, path: str, mode: str) -> Api:
    """Declarations of one file. `mode`: `public` (public/open only: the generated file as seen by
    other modules), `module` (everything not private: the generated file as seen by the wrapper),
    `all` (a module's own files)."""
    api = Api()

    def visible(vis: str | None, default: str | None) -> bool:
        v = vis or default
        if mode == "all":
            return True
        if mode == "public":
            return v in ("public", "open")
        return v not in ("private", "fileprivate")

    def visit_body(body: Node, owner: TypeDecl, default_vis: str | None, in_protocol: bool) -> None:
        for c in body.children:
            vis = visibility(c)
            shown = in_protocol or visible(vis, default_vis)
            where = loc(path, c)
            if c.type in ("function_declaration", "protocol_function_declaration"):
                if shown:
                    owner.add(Member(decl_name(c), "func", params_of(c), return_type(c), is_static(c), where))
            elif c.type == "init_declaration":
                if shown:
                    owner.add(Member("init", "init", params_of(c), owner.name, True, where))
            elif c.type in ("property_declaration", "protocol_property_declaration"):
                if shown:
                    roles = {c.field_name_for_child(i) for i in range(c.child_count)}
                    binding = next((x for x in c.children if x.type == "value_binding_pattern"), None)
                    constant = binding is not None and "let" in text(binding)
                    for n in property_names(c):
                        owner.add(Member(n, "property", None, type_annotation(c), is_static(c), where,
                                         stored=c.type == "property_declaration" and "computed_value" not in roles,
                                         initialised="value" in roles, constant=constant))
            elif c.type == "enum_entry":
                if shown:
                    data = c.child_by_field_name("data_contents")
                    names = [text(x) for i, x in enumerate(c.children) if c.field_name_for_child(i) == "name"]
                    for n in names:
                        ps = case_params(data) if data is not None and len(names) == 1 else None
                        owner.add(Member(n, "case", ps, owner.name, True, where))
            elif c.type == "typealias_declaration":
                if shown:
                    api.type_names.add(decl_name(c))
                    owner.add(Member(decl_name(c), "type", None, None, True, where))
            elif c.type in ("class_declaration", "protocol_declaration"):
                if shown:
                    inner = declare(c, nested_in=owner)
                    if inner is not None:
                        owner.add(Member(inner.name, "type", None, inner.name, True, where))

    def declare(node: Node, nested_in: TypeDecl | None = None) -> TypeDecl | None:
        kind_node = node.child_by_field_name("declaration_kind")
        kind = text(kind_node) or ("protocol" if node.type == "protocol_declaration" else "class")
        vis = visibility(node)
        name = decl_name(node)
        if kind != "extension" and not visible(vis, None) and nested_in is None:
            return None
        if kind == "extension" and name.startswith("Outpost."):
            name = name[len("Outpost."):]
        qualified = f"{nested_in.name}.{name}" if nested_in is not None and kind != "extension" else name
        t = api.type(qualified)
        if kind != "extension":
            t.kind, t.where = kind, loc(path, node)
            api.type_names.add(name)
        for c in node.children:
            if c.type == "inheritance_specifier":
                base = norm_type(text(c.child_by_field_name("inherits_from")))
                if base and base not in t.inherits:
                    t.inherits.append(base)
        body = node.child_by_field_name("body")
        if body is not None:
            default_vis = vis if kind == "extension" else None
            if kind in ("enum",):
                default_vis = vis  # enum cases take the enum's visibility
            visit_body(body, t, default_vis, kind == "protocol")
        if mode == "all" and kind in ("struct", "class", "actor") and "init" not in t.members:
            if kind == "struct":
                # The implicit memberwise initialiser (internal: only the module's own view).
                stored = [m for ms in t.members.values() for m in ms
                          if m.kind == "property" and m.stored and not m.static and not (m.constant and m.initialised)]
                stored.sort(key=lambda m: tuple(int(x) for x in m.where.rsplit(":", 2)[1:]))
                t.add(Member("init", "init", [Param(m.name, m.type or "", m.initialised) for m in stored], t.name, True,
                             loc(path, node)))
            else:
                # `init()`, or whatever a superclass provides: labels not checked.
                t.add(Member("init", "init", [], t.name, True, loc(path, node), lenient=True))
        return t

    for c in tree.children:
        if c.type in ("class_declaration", "protocol_declaration"):
            declare(c)
        elif c.type == "function_declaration" and visible(visibility(c), None):
            api.functions.setdefault(decl_name(c), []).append(
                Member(decl_name(c), "func", params_of(c), return_type(c), True, loc(path, c)))
        elif c.type == "typealias_declaration" and visible(visibility(c), None):
            api.type_names.add(decl_name(c))
    return api


# ------------------------------------------------------------------------------------------------
# Uses


@dataclass
class Arg:
    label: str | None
    value: Node | None
    trailing_closure: bool = False


def call_args(suffix: Node) -> list[Arg]:
    args: list[Arg] = []
    pending_label: str | None = None
    for c in suffix.children:
        if c.type == "value_arguments":
            for a in c.children:
                if a.type == "value_argument":
                    lab = a.child_by_field_name("name")
                    label = text(lab).rstrip(":") if lab is not None else None
                    args.append(Arg(label, a.child_by_field_name("value")))
        elif c.type == "simple_identifier":
            pending_label = text(c)
        elif c.type == "lambda_literal":
            args.append(Arg(pending_label, c, trailing_closure=pending_label is None))
            pending_label = None
    return args


def labels_match(params: list[Param], args: list[Arg], lenient: bool = False) -> bool:
    if lenient:
        return True
    i = j = 0
    while i < len(params):
        p = params[i]
        if j < len(args):
            a = args[j]
            if a.trailing_closure and not a.label:
                # An unlabelled trailing closure fills the next parameter that has no default or
                # takes a function (Swift's forward scan).
                if p.has_default and "->" not in p.type:
                    i += 1
                    continue
                i += 1
                j += 1
                continue
            if a.label == p.label:
                i += 1
                j += 1
                continue
        if p.has_default:
            i += 1
            continue
        return False
    return j == len(args)


def signature(m: Member) -> str:
    if m.params is None:
        return m.name
    return m.name + "(" + "".join(f"{p.label or '_'}:" for p in m.params) + ")"


def arg_signature(name: str, args: list[Arg]) -> str:
    return name + "(" + "".join(("{closure}" if a.trailing_closure and not a.label else f"{a.label or '_'}:") for a in args) + ")"


class Scope:
    def __init__(self, parent: "Scope | None", self_type: str | None = None):
        self.parent = parent
        self.vars: dict[str, str | None] = {}
        self.self_type = self_type if self_type is not None else (parent.self_type if parent else None)

    def bind(self, name: str, t: str | None) -> None:
        self.vars[name] = t

    def lookup(self, name: str) -> str | None:
        s: Scope | None = self
        while s is not None:
            if name in s.vars:
                return s.vars[name]
            s = s.parent
        return None

    def has(self, name: str) -> bool:
        s: Scope | None = self
        while s is not None:
            if name in s.vars:
                return True
            s = s.parent
        return False


class Checker:
    def __init__(self, path: str, api: Api, ours: set[str], problems: list[str], checked: set[str]):
        self.path, self.api, self.ours = path, api, ours
        self.problems, self.checked = problems, checked
        self.done: set[tuple[int, int, str]] = set()

    # -- reporting
    def problem(self, node: Node, msg: str) -> None:
        self.problems.append(f"{loc(self.path, node)}: {msg}")

    def ok(self, symbol: str) -> None:
        self.checked.add(symbol)

    def is_ours(self, t: str | None) -> bool:
        return t is not None and t in self.api.types and (t in self.ours or t.split(".")[0] in self.ours)

    # -- type names
    def check_type_name(self, node: Node, name: str) -> None:
        if name in self.ours:
            self.ok(name)
            return
        if name in self.api.type_names or name in self.api.types:
            return
        close = difflib.get_close_matches(name, sorted(self.ours), n=1, cutoff=0.9) if len(name) >= 6 else []
        if name.startswith("Outpost") or close:
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            self.problem(node, f"`{name}` is not declared in the Outpost bindings{hint}")

    # -- inference
    def infer(self, node: Node | None, scope: Scope) -> str | None:
        if node is None:
            return None
        t = node.type
        if t in ("try_expression", "await_expression"):
            return self.infer(node.child_by_field_name("expr"), scope)
        if t == "parenthesized_expression" or t == "tuple_expression":
            named = [c for c in node.children if c.is_named]
            return self.infer(named[0], scope) if len(named) == 1 else None
        if t == "postfix_expression":
            return self.infer(node.child_by_field_name("target") or (node.children[0] if node.children else None), scope)
        if t == "simple_identifier":
            name = text(node)
            if scope.has(name):
                return norm_type(scope.lookup(name))
            if scope.self_type:
                ms = self.api.members(scope.self_type, name)
                props = [m for m in ms if m.kind == "property"]
                if props:
                    return norm_type(props[0].type)
            return None
        if t == "self_expression":
            return scope.self_type
        if t == "constructor_expression":
            ct = node.child_by_field_name("constructed_type")
            return norm_type(re.sub(r"<.*", "", text(ct)))
        if t == "call_expression":
            callee = node.children[0]
            suffix = node.children[1] if len(node.children) > 1 else None
            args = call_args(suffix) if suffix is not None else []
            if callee.type == "simple_identifier":
                name = text(callee)
                if name in self.api.types:
                    return name
                fs = [f for f in self.api.functions.get(name, []) if f.params is not None and labels_match(f.params, args, f.lenient)]
                if not fs and scope.self_type:
                    # A method of the enclosing type called without `self.`.
                    fs = [m for m in self.api.members(scope.self_type, name)
                          if m.kind == "func" and m.params is not None and labels_match(m.params, args, m.lenient)]
                return norm_type(fs[0].type) if fs else None
            if callee.type == "navigation_expression":
                recv_t, member, static = self.receiver(callee, scope)
                if recv_t is None or member is None:
                    return None
                ms = [m for m in self.api.members(recv_t, member) if m.params is not None and labels_match(m.params, args, m.lenient)]
                if ms:
                    return norm_type(ms[0].type)
            if callee.type == "prefix_expression":
                return None
            return None
        if t == "navigation_expression":
            recv_t, member, static = self.receiver(node, scope)
            if recv_t is None or member is None:
                return None
            ms = self.api.members(recv_t, member)
            if ms:
                m = ms[0]
                if m.kind == "case":
                    return recv_t
                if m.kind == "type":
                    return m.type
                return norm_type(m.type)
            return None
        if t == "as_expression":
            for c in node.children:
                if c.type.endswith("_type"):
                    return norm_type(text(c))
        return None

    def receiver(self, nav: Node, scope: Scope) -> tuple[str | None, str | None, bool]:
        """(receiver type, member name, whether it is static access) of `a.b`."""
        target = nav.child_by_field_name("target")
        suffix = nav.child_by_field_name("suffix")
        member = None
        if suffix is not None:
            s = suffix.child_by_field_name("suffix")
            member = text(s) if s is not None and s.type == "simple_identifier" else None
        if target is None:
            return None, member, False
        if target.type == "simple_identifier" and not scope.has(text(target)):
            name = text(target)
            if name in self.api.types and IDENT_UPPER.match(name):
                return name, member, True
        if target.type == "user_type":
            return norm_type(text(target)), member, True
        return self.infer(target, scope), member, False

    # -- member checks
    def check_member(self, node: Node, recv_t: str, member: str, static: bool) -> list[Member]:
        if not self.is_ours(recv_t):
            return []
        if member in UNIVERSAL_MEMBERS or (static and member == "init"):
            return self.api.members(recv_t, member)
        ms = self.api.members(recv_t, member)
        if not ms:
            candidates = sorted({n for tn in self.family(recv_t) for n in self.api.types[tn].members})
            close = difflib.get_close_matches(member, candidates, n=1, cutoff=0.75)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            self.problem(node, f"`{recv_t}` has no member `{member}`{hint}")
            return []
        self.ok(f"{recv_t}.{member}")
        return ms

    def family(self, t: str, seen: set[str] | None = None) -> list[str]:
        seen = seen or set()
        if t in seen or t not in self.api.types:
            return []
        seen.add(t)
        out = [t]
        for p in self.api.types[t].inherits:
            out += self.family(p, seen)
        return out

    def check_labels(self, node: Node, owner: str, name: str, overloads: list[Member], args: list[Arg],
                     scope: Scope) -> Member | None:
        callables = [m for m in overloads if m.params is not None]
        if not callables:
            if any(m.kind == "property" for m in overloads):
                return None  # a stored closure or a property that is then called: not checked
            if any(m.kind == "case" for m in overloads) and args:
                self.problem(node, f"`{owner}.{name}` has no associated values")
            return None
        matching = [m for m in callables if labels_match(m.params or [], args, m.lenient)]
        if not matching:
            wanted = " or ".join(sorted({signature(m) for m in callables}))
            self.problem(node, f"no `{owner}.{arg_signature(name, args)}`: declared {wanted}")
            return None
        self.ok(f"{owner}.{signature(matching[0])}")
        m = matching[0]
        self.check_arg_values(m, args, scope)
        return m

    def check_arg_values(self, m: Member, args: list[Arg], scope: Scope) -> None:
        """Implicit members passed to parameters of our types (`compare: .startsWith`)."""
        params = m.params or []
        pi = 0
        for a in args:
            while pi < len(params) and params[pi].label != a.label and params[pi].has_default and not a.trailing_closure:
                pi += 1
            if pi >= len(params):
                return
            self.check_value_against(a.value, params[pi].type, scope)
            pi += 1

    def check_value_against(self, value: Node | None, ptype: str | None, scope: Scope) -> None:
        if value is None or not ptype:
            return
        t = norm_type(ptype)
        optional = ptype.strip().endswith("?")
        if value.type == "array_literal":
            et = element_type(t)
            for c in value.children:
                if c.is_named:
                    self.check_value_against(c, et, scope)
            return
        if value.type == "dictionary_literal":
            vt = dict_value_type(t)
            for i, c in enumerate(value.children):
                if value.field_name_for_child(i) == "value":
                    self.check_value_against(c, vt, scope)
            return
        implicit, args = None, None
        if value.type == "prefix_expression" and text(value.child_by_field_name("operation")) == ".":
            implicit = value.child_by_field_name("target")
        elif value.type == "call_expression" and value.children and value.children[0].type == "prefix_expression" \
                and text(value.children[0].child_by_field_name("operation")) == ".":
            implicit = value.children[0].child_by_field_name("target")
            args = call_args(value.children[1]) if len(value.children) > 1 else []
        if implicit is None or not self.is_ours(t):
            return
        name = text(implicit)
        if optional and name in OPTIONAL_MEMBERS:
            return
        ms = self.check_member(implicit, t or "", name, True)
        if ms and args is not None:
            self.check_labels(value, t or "", name, ms, args, scope)
        self.done.add(key(value))
        self.done.add(key(implicit))

    def check_pattern(self, pattern: Node, subject_t: str | None, scope: Scope) -> None:
        """`.case(...)`, `Type.case(...)`, `let .case(...)` against the subject's type; the names the
        pattern binds get the types of the case's associated values (in `scope`)."""
        children = pattern.children
        outer_let = any(c.type == "value_binding_pattern" for c in children)
        for i, c in enumerate(children):
            if c.type != "." or i + 1 >= len(children) or children[i + 1].type != "simple_identifier":
                continue
            owner = subject_t
            if i > 0 and children[i - 1].type == "user_type":
                owner = norm_type(text(children[i - 1]))
                self.check_type_name(children[i - 1], owner or "")
            name_node = children[i + 1]
            if not self.is_ours(owner):
                continue
            name = text(name_node)
            if owner and subject_t is None and name in OPTIONAL_MEMBERS:
                continue
            ms = self.check_member(name_node, owner or "", name, True)
            cases = [m for m in ms if m.kind == "case"]
            if not cases:
                if ms:
                    self.problem(name_node, f"`{owner}.{name}` is not an enum case")
                continue
            rest = children[i + 2:]
            if not rest or rest[0].type != "(":
                continue
            labels: list[str | None] = []
            bound: list[str | None] = []
            count = 0
            pending: str | None = None
            for r in rest[1:]:
                if r.type == ")":
                    break
                if r.type == "simple_identifier":
                    pending = text(r)
                elif r.type == "pattern" or (r.is_named and r.type != ":"):
                    labels.append(pending)
                    pending = None
                    count += 1
                    b = r.child_by_field_name("bound_identifier")
                    if b is None and outer_let and r.named_child_count == 1 and r.named_children[0].type == "simple_identifier":
                        b = r.named_children[0]
                    bound.append(text(b) if b is not None else None)
            case = cases[0]
            params = case.params or []
            if count == len(params):
                for name_bound, p in zip(bound, params):
                    if name_bound:
                        scope.bind(name_bound, p.type)
            if count != len(params) and count != 1:
                self.problem(name_node, f"`{owner}.{name}` has {len(params)} associated values, the pattern {count}")
            elif count == len(params):
                for lab, p in zip(labels, params):
                    if lab is not None and lab != p.label:
                        self.problem(name_node, f"`{owner}.{name}`: label `{lab}` where `{p.label or '_'}` is declared")
                        break
                else:
                    self.ok(f"{owner}.{signature(case)}")

    def check_conformance(self, node: Node, type_name: str, module_api: Api) -> None:
        t = module_api.types.get(type_name)
        if t is None:
            return
        for proto in t.inherits:
            p = self.api.types.get(proto)
            if p is None or p.kind != "protocol" or proto not in self.ours:
                continue
            for name, reqs in p.members.items():
                for req in reqs:
                    # The module's own declarations of the type and its extensions.
                    impls = t.members.get(name, [])
                    if req.params is not None:
                        ok = any(m.params is not None and [q.label for q in m.params] == [q.label for q in req.params] for m in impls)
                    else:
                        ok = bool(impls)
                    if not ok:
                        self.problem(node, f"`{type_name}` adopts `{proto}` but does not declare `{signature(req)}`")
                    else:
                        self.ok(f"{proto}.{signature(req)} in {type_name}")

    # -- the walk
    def run(self, root: Node, module_api: Api) -> None:
        self.module_api = module_api
        self.visit(root, Scope(None))

    def visit(self, node: Node, scope: Scope) -> None:
        t = node.type
        if t == "import_declaration":
            return
        if t in ("class_declaration", "protocol_declaration"):
            name = decl_name(node)
            if name.startswith("Outpost."):
                name = name[len("Outpost."):]
            kind = text(node.child_by_field_name("declaration_kind"))
            for c in node.children:
                if c.type == "inheritance_specifier":
                    base = c.child_by_field_name("inherits_from")
                    if base is not None:
                        self.check_type_name(base, norm_type(text(base)) or "")
            if kind == "extension":
                n = node.child_by_field_name("name")
                if n is not None:
                    self.check_type_name(n, name)
            else:
                self.check_conformance(node, name, self.module_api)
            inner = Scope(scope, self_type=name)
            body = node.child_by_field_name("body")
            for c in node.children:
                if c is not body and c.type not in ("inheritance_specifier",):
                    if c.type not in ("type_identifier", "user_type"):
                        self.visit(c, inner)
            if body is not None:
                self.visit_children(body, inner)
            return
        if t in ("function_declaration", "init_declaration", "protocol_function_declaration"):
            inner = Scope(scope)
            for c in node.children:
                if c.type == "parameter":
                    names = [x for x in c.children if c.field_name_for_child(c.children.index(x)) == "name"]
                    if names:
                        inner.bind(text(names[0]), text(names[1]) if len(names) > 1 else None)
            self.visit_children(node, inner)
            return
        if t == "lambda_literal":
            inner = Scope(scope)
            lt = node.child_by_field_name("type")
            if lt is not None:
                for p in walk(lt):
                    if p.type == "lambda_parameter":
                        n = p.child_by_field_name("name")
                        types = [x for x in p.children if x.is_named and x is not n and x.type.endswith("_type")]
                        if n is not None:
                            inner.bind(text(n), text(types[0]) if types else None)
            self.visit_children(node, inner)
            return
        if t == "property_declaration":
            value = node.child_by_field_name("value")
            if value is not None:
                self.visit(value, scope)
            annotated = type_annotation(node)
            for c in node.children:
                if c.type == "type_annotation" or c.type == "computed_property" or \
                        node.field_name_for_child(node.children.index(c)) == "computed_value":
                    self.visit(c, Scope(scope))
            inferred = annotated or self.infer(value, scope)
            for n in property_names(node):
                scope.bind(n, inferred)
            return
        if t in ("if_statement", "guard_statement", "while_statement"):
            self.visit_conditions(node, scope)
            return
        if t == "for_statement":
            coll = node.child_by_field_name("collection")
            if coll is not None:
                self.visit(coll, scope)
            inner = Scope(scope)
            item = node.child_by_field_name("item")
            if item is not None:
                b = item.child_by_field_name("bound_identifier")
                if b is not None:
                    inner.bind(text(b), element_type(self.infer(coll, scope)))
            for c in node.children:
                if c is not coll and c is not item:
                    self.visit(c, inner)
            return
        if t == "switch_statement":
            subject = node.child_by_field_name("expr")
            if subject is not None:
                self.visit(subject, scope)
            st = self.infer(subject, scope)
            for entry in node.children:
                if entry.type != "switch_entry":
                    continue
                inner = Scope(scope)
                for c in entry.children:
                    if c.type == "switch_pattern":
                        for p in c.children:
                            if p.type == "pattern":
                                self.check_pattern(p, st, inner)
                    else:
                        self.visit(c, inner)
            return
        if t == "catch_block":
            inner = Scope(scope)
            err = node.child_by_field_name("error")
            if err is not None:
                self.check_pattern(err, None, inner)
                # `catch let e as T`
                if any(c.type == "as" for c in err.children):
                    cast = [c for c in err.children if c.type.endswith("_type")]
                    for b in walk(err):
                        parent = b.parent
                        if b.type == "simple_identifier" and parent is not None and \
                                parent.field_name_for_child(parent.children.index(b)) == "bound_identifier":
                            inner.bind(text(b), text(cast[-1]) if cast else None)
                for c in err.children:
                    if c.type == "user_type":
                        self.check_type_name(c, norm_type(text(c)) or "")
            for c in node.children:
                if c is not err:
                    self.visit(c, inner)
            return
        if t == "call_expression":
            self.visit_call(node, scope)
            return
        if t == "navigation_expression" and key(node) not in self.done:
            recv_t, member, static = self.receiver(node, scope)
            if recv_t is not None and member is not None:
                self.check_member(node.child_by_field_name("suffix") or node, recv_t, member, static)
            self.visit_children(node, scope)
            return
        if t == "type_identifier":
            self.check_type_name(node, text(node))
            return
        if t == "simple_identifier" and key(node) not in self.done:
            name = text(node)
            parent = node.parent
            role = parent.field_name_for_child(parent.children.index(node)) if parent is not None else None
            if IDENT_UPPER.match(name) and not scope.has(name) and role not in ("name", "bound_identifier", "suffix") \
                    and parent is not None and parent.type not in ("value_argument_label", "navigation_suffix"):
                self.check_type_name(node, name)
            return
        self.visit_children(node, scope)

    def visit_children(self, node: Node, scope: Scope) -> None:
        for c in node.children:
            self.visit(c, scope)

    def visit_conditions(self, node: Node, scope: Scope) -> None:
        """`if let x = e`, `guard case .a = e`: bindings go to the enclosing scope (a simplification)."""
        children = node.children
        i = 0
        while i < len(children):
            c = children[i]
            role = node.field_name_for_child(i)
            if role == "bound_identifier" or (c.type == "simple_identifier" and role == "condition" and
                                              i + 1 < len(children) and children[i + 1].type == "="):
                j = i + 1
                while j < len(children) and children[j].type != "=":
                    j += 1
                if j + 1 < len(children):
                    value = children[j + 1]
                    self.visit(value, scope)
                    scope.bind(text(c), self.infer(value, scope))
                    self.done.add(key(value))
                    i = j + 2
                    continue
            if c.type == "case" and role == "condition":
                # guard/if case .x(...) = e
                j = i + 1
                pattern_nodes = []
                while j < len(children) and children[j].type != "=":
                    pattern_nodes.append(children[j])
                    j += 1
                if j + 1 < len(children):
                    value = children[j + 1]
                    self.visit(value, scope)
                    st = self.infer(value, scope)
                    self.check_loose_pattern(pattern_nodes, st)
                    self.done.add(key(value))
                    i = j + 2
                    continue
            if key(c) not in self.done:
                self.visit(c, scope)
            i += 1

    def check_loose_pattern(self, nodes: list[Node], subject_t: str | None) -> None:
        for i, c in enumerate(nodes):
            if c.type == "." and i + 1 < len(nodes) and nodes[i + 1].type == "simple_identifier":
                owner = subject_t
                if i > 0 and nodes[i - 1].type in ("user_type", "simple_identifier") and IDENT_UPPER.match(text(nodes[i - 1])):
                    owner = norm_type(text(nodes[i - 1]))
                if self.is_ours(owner):
                    ms = self.check_member(nodes[i + 1], owner or "", text(nodes[i + 1]), True)
                    if ms and not any(m.kind == "case" for m in ms):
                        self.problem(nodes[i + 1], f"`{owner}.{text(nodes[i + 1])}` is not an enum case")

    def visit_call(self, node: Node, scope: Scope) -> None:
        callee = node.children[0]
        suffix = node.children[1] if len(node.children) > 1 else None
        args = call_args(suffix) if suffix is not None else []
        if key(node) not in self.done:
            if callee.type == "simple_identifier" and not scope.has(text(callee)):
                name = text(callee)
                if name in self.api.types:
                    self.check_type_name(callee, name)
                    if self.is_ours(name):
                        inits = self.api.members(name, "init")
                        if inits or self.api.types[name].kind in ("class", "struct", "enum"):
                            if not inits:
                                self.problem(callee, f"`{name}` declares no initialiser")
                            else:
                                self.check_labels(node, name, "init", inits, args, scope)
                    self.done.add(key(callee))
                elif name in self.api.functions:
                    fs = self.api.functions[name]
                    if any(f.where.startswith(str(GENERATED_REL)) or f.where.startswith(str(WRAPPER_DIR_REL)) for f in fs):
                        self.check_labels(node, "Outpost", name, fs, args, scope)
                        self.done.add(key(callee))
                elif IDENT_UPPER.match(name):
                    self.check_type_name(callee, name)
                    self.done.add(key(callee))
            elif callee.type == "navigation_expression":
                recv_t, member, static = self.receiver(callee, scope)
                if recv_t is not None and member is not None and self.is_ours(recv_t):
                    ms = self.check_member(callee.child_by_field_name("suffix") or callee, recv_t, member, static)
                    if ms:
                        self.check_labels(node, recv_t, member, ms, args, scope)
                    self.done.add(key(callee))
                    target = callee.child_by_field_name("target")
                    if target is not None:
                        self.visit(target, scope)
                    if suffix is not None:
                        self.visit(suffix, scope)
                    return
            elif callee.type == "constructor_expression":
                pass
        self.visit_children(node, scope)


def key(node: Node) -> tuple[int, int, str]:
    return (node.start_byte, node.end_byte, node.type)


def walk(node: Node):
    yield node
    for c in node.children:
        yield from walk(c)


# ------------------------------------------------------------------------------------------------
# Driver


# Valid Swift that tree-sitter-swift 0.7.4 cannot parse, all of it in uniffi's generated code.
# Each is replaced by text of the same length that the grammar parses (so lines and columns
# stay true), before any file is parsed:
# - an attribute alone inside `#if swift(>=5.8)` … `#endif` above a declaration (166 times);
# - a closure whose body is the empty tuple, `{ () }`.
GRAMMAR_GAPS = [
    (re.compile(rb"^[ \t]*@_documentation\(visibility: *private\)[ \t]*$", re.M), lambda m: b" " * len(m.group(0))),
    (re.compile(rb"\{ \(\) \}"), lambda m: b"{ 0  }"),
]


def parse(source: bytes):
    for pattern, replacement in GRAMMAR_GAPS:
        source = pattern.sub(replacement, source)
    return PARSER.parse(source)


def syntax_problems(path: str, tree) -> list[str]:
    out = []
    for n in walk(tree.root_node):
        if n.type == "ERROR" or n.is_missing:
            what = f"missing `{n.type}`" if n.is_missing else "syntax error"
            snippet = text(n).splitlines()[0][:60] if text(n) else ""
            out.append(f"{loc(path, n)}: {what}" + (f" near `{snippet}`" if snippet else ""))
    return out


def find_files(root: Path) -> list[Path]:
    files = []
    for d in SCANNED_DIRS:
        base = root / d
        if not base.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(x for x in dirnames if x not in SKIPPED_DIRS and not x.endswith(".xcodeproj"))
            for f in sorted(filenames):
                if f.endswith(".swift"):
                    files.append(Path(dirpath) / f)
    return files


def module_of(rel: Path) -> str:
    parts = rel.parts
    if parts[:2] == ("bindings", "swift"):
        if len(parts) > 2 and parts[2] == "Sources":
            return "Outpost"
        if len(parts) > 2 and parts[2] == "Tests":
            return "OutpostTests"
        return "package"  # Package.swift
    return parts[0]  # ios-demo


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[2]))
    ap.add_argument("--generated", default=os.environ.get("OUTPOST_GENERATED_SWIFT"),
                    help="a freshly generated Outpost.swift (must equal the committed one)")
    ap.add_argument("--verbose", action="store_true", help="list the symbols checked")
    a = ap.parse_args()
    root = Path(a.root).resolve()
    problems: list[str] = []
    checked: set[str] = set()

    committed = root / GENERATED_REL
    if not committed.is_file():
        print(f"check-swift: {GENERATED_REL} is missing (run bindings/scripts/build-ios.sh or generate.sh)")
        return 1

    files = find_files(root)
    trees = {}
    for f in files:
        rel = str(f.relative_to(root))
        tree = parse(f.read_bytes())
        trees[f] = tree
        problems += syntax_problems(rel, tree)
    parsed = len(files)

    if a.generated:
        fresh = Path(a.generated)
        if not fresh.is_file():
            problems.append(f"{fresh}: not found (--generated)")
        else:
            parsed += 1
            problems += syntax_problems(str(fresh), parse(fresh.read_bytes()))
            if fresh.read_bytes() != committed.read_bytes():
                diff = list(difflib.unified_diff(
                    committed.read_text(errors="replace").splitlines(), fresh.read_text(errors="replace").splitlines(),
                    str(GENERATED_REL), str(fresh), n=0, lineterm=""))
                changed = sum(1 for d in diff if d[:1] in "+-" and not d.startswith(("+++", "---")))
                shown = "\n".join("    " + d[:160] for d in diff[:12])
                problems.append(f"{GENERATED_REL}: differs from the freshly generated {fresh} ({changed} lines); "
                                f"regenerate with bindings/scripts/build-ios.sh (or copy the fresh file)\n{shown}")

    gen_tree = trees[committed].root_node
    generated_public = collect(gen_tree, str(GENERATED_REL), "public")
    generated_module = collect(gen_tree, str(GENERATED_REL), "module")
    ours = {n for n, t in generated_public.types.items() if t.kind != "extension"} | generated_public.type_names

    by_module: dict[str, list[Path]] = {}
    for f in files:
        if f == committed:
            continue
        by_module.setdefault(module_of(f.relative_to(root)), []).append(f)

    wrapper_public = Api()
    for f in by_module.get("Outpost", []):
        wrapper_public = wrapper_public.merged(collect(trees[f].root_node, str(f.relative_to(root)), "public"))
    ours |= {n for n, t in wrapper_public.types.items() if t.kind != "extension"}

    for module, mfiles in sorted(by_module.items()):
        if module == "package":
            continue
        own = Api()
        for f in mfiles:
            own = own.merged(collect(trees[f].root_node, str(f.relative_to(root)), "all"))
        base = generated_module if module == "Outpost" else generated_public.merged(wrapper_public)
        api = base.merged(own)
        for f in mfiles:
            Checker(str(f.relative_to(root)), api, ours, problems, checked).run(trees[f].root_node, own)

    problems = list(dict.fromkeys(problems))
    for p in problems:
        print(p)
    if a.verbose:
        for s in sorted(checked):
            print("  checked:", s)
    print(f"swift: {parsed} files parsed, {len(checked)} symbols checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
