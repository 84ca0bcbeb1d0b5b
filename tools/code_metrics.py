"""Structural counts of a Python package, for the consolidation issue's before/after figures.

Usage: ``python tools/code_metrics.py [PACKAGE_DIR] [--list]``  (default ``src/mrdtrack``).

Counts, reading source files only (nothing is imported or run):

- functions longer than 50 and 100 lines (``def`` line to last line, nested functions counted
  on their own);
- function-level imports: ``import`` statements inside a function body;
- private cross-imports: ``from m import _name`` where ``m`` is another module of the package,
  and imports of a private module (``pkg._mod``) from outside its own package;
- import cycles: strongly connected components of the module import graph, once with every
  import and once with module-level imports only (a cycle present only in the first is one
  that a function-level import is hiding).
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def resolve(current: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = current.split(".")
    if not is_pkg:
        base = base[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


class Visitor(ast.NodeVisitor):
    def __init__(self, mod: str, is_pkg: bool, modules: set[str]):
        self.mod, self.is_pkg, self.modules = mod, is_pkg, modules
        self.depth = 0
        self.long: list[tuple[str, int]] = []
        self.func_imports: list[int] = []
        self.private: list[tuple[int, str]] = []
        self.edges_all: set[str] = set()
        self.edges_top: set[str] = set()

    def _func(self, node):
        n = node.end_lineno - node.lineno + 1
        self.long.append((f"{node.name}:{node.lineno}", n))
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = _func

    def _target(self, name: str) -> str | None:
        while name and name not in self.modules:
            name = name.rpartition(".")[0]
        return name or None

    def _edge(self, target: str | None, lineno: int) -> None:
        if target is None or target == self.mod:
            return
        self.edges_all.add(target)
        if self.depth == 0:
            self.edges_top.add(target)
        else:
            self.func_imports.append(lineno)

    def _private_module(self, target: str, lineno: int) -> None:
        parts = target.split(".")
        for i, p in enumerate(parts):
            if p.startswith("_") and not p.startswith("__"):
                owner = ".".join(parts[:i])
                if not (self.mod == owner or self.mod.startswith(owner + ".")):
                    self.private.append((lineno, target))
                return

    def visit_Import(self, node):
        for a in node.names:
            t = self._target(a.name)
            if t:
                self._edge(t, node.lineno)
                self._private_module(t, node.lineno)
            elif self.depth:
                self.func_imports.append(node.lineno)

    def visit_ImportFrom(self, node):
        src = resolve(self.mod, self.is_pkg, node)
        t = self._target(src)
        if t is None:
            if self.depth:
                self.func_imports.append(node.lineno)
            return
        counted = False
        for a in node.names:
            sub = f"{src}.{a.name}"
            if sub in self.modules:
                self._edge(sub, node.lineno)
                self._private_module(sub, node.lineno)
                counted = True
            elif a.name.startswith("_") and not a.name.startswith("__") and t != self.mod:
                self.private.append((node.lineno, f"{src}.{a.name}"))
        if not counted or any(f"{src}.{a.name}" not in self.modules for a in node.names):
            self._edge(t, node.lineno)
            self._private_module(t, node.lineno)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10000)

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def without_package_inits(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Drop edges into a package's own ``__init__`` from its submodules (re-export pattern)."""
    return {
        m: {t for t in ts if not (m.startswith(t + ".") and t in graph)} for m, ts in graph.items()
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", default="src/mrdtrack")
    ap.add_argument("--list", action="store_true", help="list every counted place")
    a = ap.parse_args()
    root = Path(a.root).resolve()
    files = sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    modules = {module_name(p, root) for p in files}
    long50 = long100 = 0
    func_imports: list[str] = []
    private: list[str] = []
    g_all: dict[str, set[str]] = {}
    g_top: dict[str, set[str]] = {}
    longest: list[tuple[int, str]] = []
    for p in files:
        mod = module_name(p, root)
        v = Visitor(mod, p.name == "__init__.py", modules)
        v.visit(ast.parse(p.read_text(), filename=str(p)))
        for name, n in v.long:
            long50 += n > 50
            long100 += n > 100
            if n > 100:
                longest.append((n, f"{mod}.{name}"))
        func_imports += [f"{mod}:{ln}" for ln in v.func_imports]
        private += [f"{mod}:{ln} {what}" for ln, what in v.private]
        g_all[mod] = v.edges_all
        g_top[mod] = v.edges_top
    c_all = cycles(without_package_inits(g_all))
    c_top = cycles(without_package_inits(g_top))
    print(f"files                       {len(files)}")
    print(f"functions > 50 lines        {long50}")
    print(f"functions > 100 lines       {long100}")
    print(f"function-level imports      {len(func_imports)}")
    print(f"private cross-imports       {len(private)}")
    print(f"import cycles (all imports) {len(c_all)}")
    print(f"import cycles (top level)   {len(c_top)}")
    if a.list:
        print("\n# functions > 100 lines")
        for n, name in sorted(longest, reverse=True):
            print(f"  {n:4d} {name}")
        print("\n# function-level imports")
        for s in func_imports:
            print("  " + s)
        print("\n# private cross-imports")
        for s in private:
            print("  " + s)
        print("\n# cycles (all imports)")
        for c in c_all:
            print("  " + " <-> ".join(c))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
