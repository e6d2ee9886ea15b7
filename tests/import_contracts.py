"""Check the import contracts in `.importlinter` (import-linter, whose graph grimp builds: relative imports and
imports inside functions count), adding the imports made at run time with `importlib.import_module` or
`__import__`, which no reading of import statements sees.

An import made with a literal name (`import_module("models.entities")`) is that import. A module that imports a
computed name (`import_module(name)`, as `tui.cli` loads its lazy commands) is taken to import every module of
ours whose dotted name appears as a string in it.

Usage: python tests/import_contracts.py [ROOT]  (ROOT: the folder holding .importlinter and the packages; the
project by default). Exit status 0 when every contract is kept; the report is printed either way.
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

DYNAMIC_IMPORTERS = {"import_module", "__import__"}


def _module_file(root: Path, module: str) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _called_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def dynamic_imports(root: Path, module: str, ours: set[str]) -> list[tuple[str, int]]:
    """(imported module, line) for each run-time import `module` makes of one of `ours`."""
    path = _module_file(root, module)
    if path is None:
        return []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, int]] = []
    computed = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _called_name(node) in DYNAMIC_IMPORTERS and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.append((arg.value, node.lineno))
            else:
                computed = True
    if computed:
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in ours:
                found.append((node.value, node.lineno))
    return [(name, line) for name, line in found if name != module]


def main(root: Path) -> int:
    os.chdir(root)
    sys.path.insert(0, str(root))
    import grimp
    from importlinter.adapters.building import GraphBuilder
    from importlinter.application.app_config import settings
    from importlinter.application.use_cases import lint_imports
    from importlinter.configuration import configure

    class WithDynamicImports(GraphBuilder):
        def build(self, root_package_names, cache_dir, include_external_packages=False,
                  exclude_type_checking_imports=False) -> grimp.ImportGraph:
            graph = super().build(root_package_names, None, include_external_packages,
                                  exclude_type_checking_imports)
            roots = tuple(root_package_names)
            ours = {m for m in graph.modules if m.split(".")[0] in roots}
            for module in sorted(ours):
                for imported, line in dynamic_imports(root, module, ours):
                    if imported not in ours:
                        if imported.split(".")[0] in roots:
                            continue  # a name of ours that is no module: nothing is imported
                        imported = imported.split(".")[0]  # another package: grimp keeps it as one node
                    graph.add_import(importer=module, imported=imported, line_number=line,
                                     line_contents=f"(run-time import of {imported})")
            return graph

    configure()
    settings.configure(GRAPH_BUILDER=WithDynamicImports())
    kept = lint_imports(config_filename=str(root / ".importlinter"), cache_dir=None, no_logo=True)
    return 0 if kept else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent).resolve()))
