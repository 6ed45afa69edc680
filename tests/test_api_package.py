"""The items API's Lambda package as the bundler writes it: its size, what it leaves out, and
bytecode only from an interpreter of the runtime's own version."""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import pytest

from bench import cold_start
from cdk_constructs import python_bundling
from cdk_constructs.python_bundling import (
    PRUNED,
    asset_hash,
    bytecode_interpreter,
    cache_tag,
    compile_bytecode,
    lambda_package_files,
    write_package,
)
from cdk_constructs.vpc_function import ARCHITECTURE, PYTHON_RUNTIME
from stacks.platform_stack import BUNDLE_CACHE_DIR, REPO_ROOT

LAMBDA_SRC = REPO_ROOT / "lambda_src"
PACKAGE_BUDGET_MB = 11.0
"""Today's size (10.2 MB, both database drivers) with room for patch releases, inside the 15 MB
target (``cold_start.PACKAGE_TARGET_MB``). psycopg with its binary wheel was 14.3 MB; pg8000 and
what it pulls in are 0.8 MB, PyMySQL 0.15 MB."""


def test_the_lambda_package_fits_its_budget_and_leaves_out_what_no_function_imports() -> None:
    files = list(
        lambda_package_files(
            cold_start.API_PACKAGE,
            runtime=PYTHON_RUNTIME,
            architecture=ARCHITECTURE,
            cache_dir=BUNDLE_CACHE_DIR,
        )
    )
    paths = {relative.as_posix() for _, relative in files}

    assert PACKAGE_BUDGET_MB <= cold_start.PACKAGE_TARGET_MB
    assert sum(path.stat().st_size for path, _ in files) / 1e6 <= PACKAGE_BUDGET_MB
    assert {
        "api/handler.py",
        "api/dialects/postgresql.py",
        "api/dialects/mysql.py",
        "pg8000/native.py",
        "scramp/core.py",
        "pymysql/connections.py",
    } <= paths
    # The runtime provides dateutil and six; dateutil 2.9 pulls no tzdata; libpq is gone.
    left_out = ("boto3/", "botocore/", "pydantic/v1/", "dateutil/", "six.py", "tzdata/", "psycopg")
    assert not [path for path in paths if path.startswith(left_out)]
    assert not [path for path in paths if path.endswith((".pyi", ".pyc", ".c"))]


def _imported_modules(source: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return modules


def test_no_function_imports_a_module_the_bundler_leaves_out() -> None:
    imported = {module for path in LAMBDA_SRC.rglob("*.py") for module in _imported_modules(path)}
    pruned = [
        module
        for module in imported
        for candidate in (f"{module.replace('.', '/')}.py", f"{module.replace('.', '/')}/x.py")
        if python_bundling._pruned(PurePosixPath(candidate))
    ]

    assert PRUNED
    assert pruned == []


@pytest.fixture(scope="module")
def lambda_python(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], str]:
    """Runs Python code as Lambda would with the package (``python -S``: no site-packages):
    the package as the bundler writes it, plus what the Lambda runtime provides. Its output."""
    root = tmp_path_factory.mktemp("lambda")
    write_package(cold_start.local_package_files(), root / "task")
    runtime = cold_start.runtime_libraries(root / "runtime")
    environment = cold_start.lambda_environment(root / "task", {}) | {
        "PYTHONPATH": os.pathsep.join(map(str, (root / "task", runtime))),
        "POWERTOOLS_METRICS_NAMESPACE": "test",
    }

    def run(code: str) -> str:
        result = subprocess.run(
            [sys.executable, "-S", "-c", code],
            env=environment,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    return run


def test_the_package_without_what_is_left_out_still_serves(
    lambda_python: Callable[[str], str],
) -> None:
    """The handler and both drivers import from the package alone: nothing they need was left
    out."""
    lambda_python("import api.handler, api.routes, pydantic, pg8000.native, pymysql")


@pytest.mark.parametrize(("family", "driver"), [("postgresql", "pg8000"), ("mysql", "pymysql")])
def test_each_family_imports_its_own_driver_and_only_when_first_used(
    lambda_python: Callable[[str], str], family: str, driver: str
) -> None:
    """Nothing at import (cold start); the family's driver with the Database; never the other
    family's."""
    probe = (
        "import sys\n"
        "from api import db, handler\n"
        "drivers = {'pg8000', 'pymysql'}\n"
        "loaded = lambda: sorted(drivers & {name.split('.')[0] for name in sys.modules})\n"
        "assert loaded() == [], loaded()\n"
        "settings = db.DatabaseSettings('db', 1, 'd', 'u', 'require', 'r',"
        f" engine_family={family!r})\n"
        "db.Database(settings, db.AuthTokenCache(str))\n"
        "print(','.join(loaded()))\n"
    )

    assert lambda_python(probe).strip() == driver


@pytest.fixture
def no_cached_interpreters() -> object:
    bytecode_interpreter.cache_clear()
    yield None
    bytecode_interpreter.cache_clear()


def _fake_python(directory: Path, version: str, tag: str) -> None:
    script = directory / f"python{version}"
    script.write_text(f"#!/bin/sh\necho {tag}\n")
    script.chmod(0o755)


@pytest.mark.usefixtures("no_cached_interpreters")
def test_pycs_come_only_from_an_interpreter_of_the_runtimes_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    _fake_python(tmp_path, "3.98", "cpython-311")  # says it is another version
    _fake_python(tmp_path, "3.97", "cpython-397")

    assert bytecode_interpreter("3.99") is None  # none on the PATH
    assert bytecode_interpreter("3.98") is None
    assert bytecode_interpreter("3.97") == str(tmp_path / "python3.97")
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert bytecode_interpreter(running) == sys.executable


def test_the_bundlers_pycs_are_unchecked_hash_for_the_compiling_version(tmp_path: Path) -> None:
    """CDK zips every file with one fixed timestamp: a pyc checked against the source's
    timestamp would never be used on Lambda."""
    module = tmp_path / "package" / "module.py"
    module.parent.mkdir()
    module.write_text("VALUE = 1\n")

    compile_bytecode(tmp_path / "package", sys.executable)

    (pyc,) = (tmp_path / "package" / "__pycache__").iterdir()
    assert pyc.name == f"module.{sys.implementation.cache_tag}.pyc"
    flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
    assert flags == 0b01  # hash-based, source not checked (PEP 552)
    os.utime(module, (0, 0))
    spec = importlib.util.spec_from_file_location("module", module)
    assert spec is not None
    assert spec.loader is not None
    assert spec.cached == str(pyc)


def test_a_zip_with_pycs_never_shares_its_asset_hash_with_one_without() -> None:
    platforms = ("manylinux2014_aarch64",)
    without = asset_hash(cold_start.API_PACKAGE, "3.14", platforms, bytecode=None)
    with_pycs = asset_hash(cold_start.API_PACKAGE, "3.14", platforms, bytecode=cache_tag("3.14"))

    assert without != with_pycs
    assert without == asset_hash(cold_start.API_PACKAGE, "3.14", platforms, bytecode=None)
