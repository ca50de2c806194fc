"""The layering of shared/ARCHITECTURE.md, checked by parsing every module and notebook."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "flowray"
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def in_package(path: Path, *packages: str) -> bool:
    """True when `path` lies in one of flowray's `packages` (judged inside the package, so a
    checkout folder that happens to be called "core" or "widgets" changes nothing)."""
    return path.relative_to(PACKAGE).parts[0] in packages


NOTEBOOKS = sorted(
    p
    for folder in ("notebooks", "dashboards")
    for p in (ROOT / folder).glob("*.ipynb")
    if not p.name.startswith("_")
)

# module (relative to the package) -> top-level packages it may not import
CORE_FORBIDDEN = {
    "ray",
    "duckdb",
    "ipywidgets",
    "voila",
    "papermill",
    "flowray.tasks",
    "flowray.store",
    "flowray.pipeline",
    "flowray.widgets",
    "flowray.cli",
}


def imported_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def imports(path: Path, package: str) -> bool:
    return any(n == package or n.startswith(package + ".") for n in imported_names(path))


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_there_are_modules_to_check():
    assert len(MODULES) > 10


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_only_tasks_imports_ray_and_only_store_imports_duckdb(path):
    if rel(path) != "flowray/tasks.py":
        assert not imports(path, "ray"), f"{rel(path)} imports ray: only flowray/tasks.py may"
    if rel(path) != "flowray/store.py":
        assert not imports(path, "duckdb"), f"{rel(path)} imports duckdb: only flowray/store.py may"


@pytest.mark.parametrize("path", [p for p in MODULES if in_package(p, "core")], ids=rel)
def test_core_is_pure(path):
    bad = {name for name in CORE_FORBIDDEN if imports(path, name)}
    assert not bad, f"{rel(path)} imports {sorted(bad)}"


def test_tasks_and_store_do_not_import_each_other():
    assert not imports(PACKAGE / "tasks.py", "flowray.store")
    if (PACKAGE / "store.py").exists():
        assert not imports(PACKAGE / "store.py", "flowray.tasks")


@pytest.mark.parametrize("path", [p for p in MODULES if in_package(p, "widgets", "cli")], ids=rel)
def test_front_ends_go_through_the_pipeline(path):
    """Jobs always go through the pipeline; the CLI may do plain record-keeping on the store."""
    layers = ("flowray.tasks",) if in_package(path, "cli") else ("flowray.tasks", "flowray.store")
    for layer in layers:
        assert not imports(path, layer), f"{rel(path)} imports {layer}: call flowray.pipeline"


def test_only_config_reads_flowray_environment_variables():
    pattern = re.compile(r"""environ(?:\.get)?\s*[\[(]\s*["']FLOWRAY_|getenv\(\s*["']FLOWRAY_""")
    offenders = [
        rel(p) for p in MODULES if rel(p) != "flowray/config.py" and pattern.search(p.read_text())
    ]
    assert not offenders


def notebook_code(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def test_there_are_notebooks_to_check():
    if not NOTEBOOKS:
        pytest.skip("no notebooks or dashboards yet")
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=rel)
def test_notebooks_are_thin(path):
    for source in notebook_code(path):
        tree = ast.parse(
            "\n".join(
                line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))
            )
        )
        for node in ast.walk(tree):
            assert not isinstance(
                node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
            ), f"{rel(path)}: define functions and classes in the package"
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                assert not (module or "").startswith(("ray", "duckdb")), (
                    f"{rel(path)} imports {module}"
                )
        assert "ray.init" not in source
        assert not re.search(r"""["'](?:/|\./|\.\./|~/)[^"']*["']""", source), (
            f"{rel(path)} has a file path"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=rel)
def test_notebooks_are_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{rel(path)} has outputs"
            assert cell.get("execution_count") is None


# -- the middle's layers (docs/architecture.md) --------------------------------------------------

JOB_SIDE = [PACKAGE / "tasks.py", *sorted((PACKAGE / "jobs").glob("*.py"))]
STORE_SIDE = [PACKAGE / "store.py", *sorted((PACKAGE / "records").glob("*.py"))]
BOTTOM = [PACKAGE / "exceptions.py", PACKAGE / "config.py", PACKAGE / "text.py"]


def test_the_middle_packages_exist():
    for package in (
        "core",
        "jobs",
        "records",
        "importers",
        "pipeline",
        "runners",
        "widgets",
        "cli",
    ):
        assert (PACKAGE / package / "__init__.py").is_file(), package
    assert len(JOB_SIDE) > 3 and len(STORE_SIDE) > 3


@pytest.mark.parametrize("path", JOB_SIDE, ids=rel)
def test_the_job_side_never_imports_the_store_side(path):
    for layer in ("flowray.store", "flowray.records", "flowray.pipeline", "flowray.widgets"):
        assert not imports(path, layer), f"{rel(path)} imports {layer}"


@pytest.mark.parametrize("path", STORE_SIDE, ids=rel)
def test_the_store_side_never_imports_the_job_side(path):
    for layer in ("flowray.tasks", "flowray.jobs", "flowray.pipeline", "flowray.widgets", "ray"):
        assert not imports(path, layer), f"{rel(path)} imports {layer}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "importers").glob("*.py")), ids=rel)
def test_importers_read_files_and_nothing_else(path):
    for layer in (
        "flowray.tasks",
        "flowray.jobs",
        "flowray.store",
        "flowray.records",
        "flowray.pipeline",
    ):
        assert not imports(path, layer), f"{rel(path)} imports {layer}"


@pytest.mark.parametrize("path", [p for p in MODULES if in_package(p, "core")], ids=rel)
def test_core_imports_no_middle_package(path):
    for layer in ("flowray.jobs", "flowray.records", "flowray.importers", "flowray.runners"):
        assert not imports(path, layer), f"{rel(path)} imports {layer}"


@pytest.mark.parametrize("path", BOTTOM, ids=rel)
def test_the_bottom_layer_is_standard_library_only(path):
    third_party = {"numpy", "pandas", "numba", "ray", "duckdb", "scipy", "sklearn", "ipywidgets"}
    names = imported_names(path)
    assert not {n.split(".")[0] for n in names} & third_party, rel(path)
    assert not [n for n in names if n.startswith("flowray.") and n != "flowray.exceptions"], rel(
        path
    )


def test_no_product_file_cites_a_document_outside_the_repository():
    """DOMAIN.md and ARCHITECTURE.md live beside the repository, not in a user's clone."""
    product = [*MODULES, *NOTEBOOKS, *sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
    offenders = [
        rel(p) for p in product if re.search(r"DOMAIN\.md|ARCHITECTURE\.md|shared/", p.read_text())
    ]
    assert not offenders


def test_no_code_names_an_issue_or_who_wrote_it():
    pattern = re.compile(r"\b(issue|Issue) \d+\b|Added by the|engineer;|are untouched")
    offenders = [rel(p) for p in MODULES if pattern.search(p.read_text())]
    assert not offenders


@pytest.mark.parametrize("path", sorted((PACKAGE / "connectors").glob("*.py")), ids=rel)
def test_connectors_read_trackers_and_nothing_else(path):
    """Connectors sit beside the importers: core, exceptions, config and text only."""
    for layer in (
        "ray",
        "duckdb",
        "ipywidgets",
        "flowray.tasks",
        "flowray.jobs",
        "flowray.store",
        "flowray.records",
        "flowray.pipeline",
        "flowray.widgets",
        "flowray.cli",
        "flowray.runners",
        "flowray.importers",
    ):
        assert not imports(path, layer), f"{rel(path)} imports {layer}"


def test_nothing_below_the_pipeline_imports_the_connectors():
    lower = [p for p in MODULES if in_package(p, "core", "jobs", "records", "importers")]
    offenders = [rel(p) for p in lower if imports(p, "flowray.connectors")]
    assert not offenders
