"""Every refusal a person can see carries a message id (a ``tr(...)`` Text), so the edge can translate it.

A static walk over services/, workflows/, domain/, activities/ (and the web app's own ``WebError``s, whose
message is their second argument): each construction of a refusal type
(``raise NotFound(...)``, ``refused = Conflict(...)``), each ``DomainError(...)`` and each workflow refusal
(``reject``/``conflict``/``refuse``/``rejected``) must pass, as its message, one of:

- a ``tr(...)`` call;
- a call of a function annotated to return a Text (``user_text``, ``format_validation_error``, ``as_text`` ...);
- a parameter of the enclosing function annotated as a Text (the helpers that pass a message on);
- a local (or module-level) variable assigned from one of those calls.

Anything else is either a refusal still in English only, or belongs on the short allow-list below with its reason.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("services", "workflows", "domain", "activities", "webapp")
REFUSALS = {"UserError", "Rejected", "Conflict", "NotFound", "TryLater", "Forbidden", "ConfigError", "LinkUnusable", "NotReleased",
            "SignInLocked", "ImportFailed", "DomainError", "reject", "conflict", "refuse", "rejected", "WebError"}
MESSAGE_ARG = {"WebError": 1}  # WebError(status, message)
# (file, enclosing function, refusal) -> why it may pass something other than a Text.
ALLOWED = {
    ("services/imports/issues.py", "failure", "ImportFailed"):
        "ImportFailed is given its list of ImportIssue rows; it builds its Text from each issue's own tr(...) message",
}


@dataclass(frozen=True)
class Site:
    file: str
    line: int
    function: str
    refusal: str
    ok: bool

    def __str__(self) -> str:
        return f"{self.file}:{self.line} {self.refusal}(...) in {self.function}()"


def _modules() -> dict[str, ast.Module]:
    return {str(p.relative_to(ROOT)): ast.parse(p.read_text(encoding="utf-8"))
            for folder in FOLDERS for p in sorted((ROOT / folder).rglob("*.py"))}


def _says_text(annotation: ast.expr | None) -> bool:
    """An annotation naming domain.text.Text (``Text``, ``Text | str``, ``Callable[..., Text]``; in inputs.py
    it is imported as ``Message``)."""
    if annotation is None:
        return False
    names = {n.id for n in ast.walk(annotation) if isinstance(n, ast.Name)}
    names |= {n.value for n in ast.walk(annotation) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return bool(names & {"Text", "Message"}) or any("Text" in s.split() for s in names if isinstance(s, str))


def _text_functions(modules: dict[str, ast.Module]) -> set[str]:
    return {node.name for tree in modules.values() for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _says_text(node.returns)}


def _called(node: ast.expr) -> str | None:
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name):
            return node.func.id
        if isinstance(node.func, ast.Attribute):
            return node.func.attr
    return None


def _is_text(arg: ast.expr, fn: ast.FunctionDef | ast.AsyncFunctionDef | None, texts: set[str],
             module: ast.Module | None = None) -> bool:
    if isinstance(arg, ast.Await):
        arg = arg.value
    name = _called(arg)
    if name == "tr" or name in texts:
        return True
    if isinstance(arg, ast.IfExp):
        return _is_text(arg.body, fn, texts, module) and _is_text(arg.orelse, fn, texts, module)
    if isinstance(arg, ast.Name) and module is not None:
        constants = [n.value for n in module.body if isinstance(n, ast.Assign)
                     and any(isinstance(t, ast.Name) and t.id == arg.id for t in n.targets)]
        if constants and all(_is_text(v, None, texts) for v in constants):
            return True
    if fn is None:
        return False
    params = {a.arg: a.annotation for a in [*fn.args.args, *fn.args.kwonlyargs, *fn.args.posonlyargs]}
    if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Name) and _says_text(params.get(arg.func.id)):
        return True  # a Text-building callable handed in (``done(at, by)``)
    if isinstance(arg, ast.Name):
        if _says_text(params.get(arg.id)):
            return True
        assigned = [n.value for n in ast.walk(fn) if isinstance(n, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == arg.id for t in n.targets)]
        assigned += [n.value for n in ast.walk(fn) if isinstance(n, ast.NamedExpr) and n.target.id == arg.id]
        return bool(assigned) and all(_is_text(v, None, texts) for v in assigned)
    return False


def refusal_sites() -> list[Site]:
    modules = _modules()
    texts = _text_functions(modules)
    sites: list[Site] = []
    for file, tree in modules.items():
        functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]

        def enclosing(node: ast.AST, functions=functions) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
            inside = [f for f in functions if f.lineno <= node.lineno <= (f.end_lineno or f.lineno)]
            return max(inside, key=lambda f: f.lineno, default=None)

        for node in ast.walk(tree):
            name = _called(node) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) else None
            position = MESSAGE_ARG.get(name or "", 0)
            if name not in REFUSALS or len(node.args) <= position:
                continue
            fn = enclosing(node)
            where = fn.name if fn else "<module>"
            ok = _is_text(node.args[position], fn, texts, tree) or (file, where, name) in ALLOWED
            sites.append(Site(file, node.lineno, where, name, ok))
    return sites


def test_every_refusal_a_person_sees_passes_a_translatable_text():
    sites = refusal_sites()
    untranslated = [str(s) for s in sites if not s.ok]
    assert not untranslated, "refusals without a tr(...) message:\n" + "\n".join(untranslated)
    # The walk finds them all: the services, the workflow Updates, the activities and the domain's checks.
    by_folder = {folder: sum(1 for s in sites if s.file.startswith(folder + "/")) for folder in FOLDERS}
    assert sum(by_folder.values()) >= 250 and all(n >= 10 for n in by_folder.values()), by_folder


def test_the_walk_catches_an_english_only_refusal(tmp_path: Path):
    """The check itself can fail: an f-string message is reported, a tr(...) one is not."""
    tree = ast.parse('def f(x: int) -> None:\n    raise NotFound(f"cycle {x} does not exist")\n'
                     'def g(x: int) -> None:\n    raise NotFound(tr("cycle %(cycle)s does not exist", cycle=x))\n')
    fns = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
    bad, good = (next(n for n in ast.walk(fns[k]) if isinstance(n, ast.Call) and _called(n) == "NotFound") for k in "fg")
    assert not _is_text(bad.args[0], fns["f"], set()) and _is_text(good.args[0], fns["g"], set())


def test_allow_list_names_real_sites():
    present = {(s.file, s.function, s.refusal) for s in refusal_sites()}
    assert set(ALLOWED) <= present, set(ALLOWED) - present
