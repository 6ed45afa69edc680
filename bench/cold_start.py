"""Cold start and size of the items API's Lambda package, measured as Lambda runs it.

- The package is the one the bundler zips (same requirements, same ``PRUNED`` files), built for
  this machine's interpreter, in a directory standing in for ``/var/task``: once without
  bytecode, as the zip is without a ``python3.14`` at synth, once with the bundler's
  unchecked-hash pycs.
- Each run is a fresh ``python -S`` (no site-packages) that sees only that package and the
  libraries the Lambda runtime provides (boto3, botocore, ...), with Lambda's environment
  (``LAMBDA_TASK_ROOT``, X-Ray trace header and daemon address, static role credentials), never
  writing bytecode (``/var/task`` is read-only).
- Cold init = importing the handler + its first request (GET /items/{id}: routing, validation,
  the database driver's import, IAM token signing, SQL, logging, metrics), minus the time the
  driver took to open its connection (the network is Lambda's, not this machine's). Interpreter
  start-up is not counted, as Lambda's Init Duration does not count the runtime's own start
  either.
- Once per engine family, with the family's DB_* settings: PostgreSQL (the default, pg8000) and
  MySQL (DB_ENGINE_FAMILY=mysql, PyMySQL, on the local MariaDB): one package holds both drivers
  and each function imports its own only.
- Which of the two Lambda sees is what the bundler would do here (``bytecode_interpreter``).

``rows()`` is this module's part of ``make bench``; ``python -m bench.cold_start`` prints it.
Times here are on this machine's Python and CPU, not Lambda's 3.14 on Graviton: compare rows with
each other and with the target, not with Lambda's own Init Duration.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
API_PACKAGE = REPO_ROOT / "lambda_src" / "api"
COLD_RUNS = 5
INIT_TARGET_MS = 300
PACKAGE_TARGET_MB = 15.0

Row = tuple[str, str, str, str]


# --- the probe: one cold start, in a fresh interpreter ----------------------------------------


def probe(item_id: str, result_file: str) -> None:
    """Runs in the fresh interpreter: import the handler, serve one request, write the times."""
    started = time.perf_counter()
    handler = __import__("api.handler", fromlist=["lambda_handler"])
    imported = time.perf_counter()

    from api import db, dialects

    connecting = [0.0]
    load = dialects.load  # what `api.db` takes its dialect from, driver and all, on first use

    def timed_load(family: str) -> Any:
        dialect = load(family)
        connect = dialect.connect

        def timed_connect(*args: Any, **kwargs: Any) -> Any:
            before = time.perf_counter()
            try:
                return connect(*args, **kwargs)
            finally:
                connecting[0] += time.perf_counter() - before

        dialect.connect = timed_connect  # type: ignore[method-assign]
        return dialect

    dialects.load = timed_load
    from devkit.events import FakeRds, lambda_context, rest_event

    if os.environ.get("DB_ENGINE_FAMILY") == "mysql":
        # The local MySQL server checks the password: the token is still signed (and counted),
        # then the one it knows is sent (see local_stack.database).
        signer = db.IamTokenSigner

        class Signed(FakeRds):
            def generate_db_auth_token(self, **kwargs: Any) -> str:
                signer(region_name=os.environ["AWS_REGION"]).generate_db_auth_token(**kwargs)
                return super().generate_db_auth_token()

        db.IamTokenSigner = lambda **_: Signed()  # type: ignore[assignment,misc]

    event, context = rest_event("GET", f"/items/{item_id}"), lambda_context()
    before = time.perf_counter()
    response = handler.lambda_handler(event, context)
    answered = time.perf_counter()
    if response["statusCode"] != 200:
        raise SystemExit(f"the first request failed: {response}")
    Path(result_file).write_text(
        json.dumps(
            {
                "import_ms": (imported - started) * 1000,
                "first_ms": (answered - before) * 1000,
                "connect_ms": connecting[0] * 1000,
            }
        )
    )


# --- the package, as the bundler builds it, for this interpreter --------------------------------


def local_package_files() -> Iterator[tuple[Path, PurePosixPath]]:
    from cdk_constructs.python_bundling import package_files, pip_platforms
    from stacks.platform_stack import BUNDLE_CACHE_DIR

    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return package_files(
        API_PACKAGE,
        python_version=version,
        platforms=pip_platforms(platform.machine()),
        cache_dir=BUNDLE_CACHE_DIR,
    )


def runtime_libraries(directory: Path) -> Path:
    """What the Lambda runtime provides beside /var/task (boto3, botocore, ...), linked from this
    interpreter's site-packages."""
    import importlib.util

    from cdk_constructs.python_bundling import RUNTIME_PROVIDED

    directory.mkdir()
    for name in RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (directory / source.name).symlink_to(source)
    return directory


@contextlib.contextmanager
def task_roots() -> Iterator[dict[str, Path]]:
    """{"source": package without bytecode, "bytecode": compiled, "runtime": runtime libraries}."""
    from cdk_constructs.python_bundling import compile_bytecode, write_package

    with tempfile.TemporaryDirectory(prefix="cold-start-") as scratch:
        root = Path(scratch)
        files = list(local_package_files())
        write_package(iter(files), root / "source")
        write_package(iter(files), root / "bytecode")
        compile_bytecode(root / "bytecode", sys.executable)
        yield {
            "source": root / "source",
            "bytecode": root / "bytecode",
            "runtime": runtime_libraries(root / "runtime"),
        }


def lambda_environment(task_root: Path, database: dict[str, str]) -> dict[str, str]:
    """What Lambda sets for the function (tracing active, role credentials), plus its DB_*."""
    trace = f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]}"
    environment = {
        name: value for name, value in database.items() if name != "POWERTOOLS_TRACE_DISABLED"
    }
    return {
        "PATH": os.environ.get("PATH", ""),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(task_root),
        "_HANDLER": "api.handler.lambda_handler",
        "AWS_LAMBDA_FUNCTION_NAME": "items-api",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "_X_AMZN_TRACE_ID": f"{trace};Sampled=1",
        "AWS_ACCESS_KEY_ID": "ASIAEXAMPLECOLDSTART",
        "AWS_SECRET_ACCESS_KEY": "cold-start-example",  # signs a local token only
        "AWS_SESSION_TOKEN": "cold-start-example",
        "PYTHONDONTWRITEBYTECODE": "1",
        **environment,
    }


def cold_starts(
    task_root: Path, runtime: Path, database: dict[str, str], item_id: str
) -> dict[str, float]:
    """Medians over fresh interpreters."""
    env = lambda_environment(task_root, database) | {
        "PYTHONPATH": os.pathsep.join(map(str, (task_root, runtime, REPO_ROOT)))
    }
    runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as scratch:
        result = Path(scratch) / "result.json"
        for _ in range(COLD_RUNS):
            run = subprocess.run(  # noqa: S603 - this interpreter on this file
                [sys.executable, "-S", __file__, "--probe", item_id, str(result)],
                env=env,
                cwd=scratch,
                check=False,
                capture_output=True,
                text=True,
                timeout=120,
            )
            if run.returncode != 0:
                output = run.stdout[-3000:] + run.stderr[-3000:]
                raise RuntimeError(f"the cold-start probe failed:\n{output}")
            runs.append(json.loads(result.read_text()))
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def init_ms(result: dict[str, float]) -> float:
    return result["import_ms"] + result["first_ms"] - result["connect_ms"]


# --- the rows ----------------------------------------------------------------------------------


def lambda_package_mb() -> tuple[float, float, float]:
    """(unzipped, zipped, PyMySQL's share unzipped) size of the zip for Lambda (arm64, the
    runtime's Python), without bytecode."""
    from cdk_constructs.python_bundling import lambda_package_files
    from cdk_constructs.vpc_function import ARCHITECTURE, PYTHON_RUNTIME
    from stacks.platform_stack import BUNDLE_CACHE_DIR

    files = list(
        lambda_package_files(
            API_PACKAGE,
            runtime=PYTHON_RUNTIME,
            architecture=ARCHITECTURE,
            cache_dir=BUNDLE_CACHE_DIR,
        )
    )
    with tempfile.TemporaryFile() as raw:
        with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
            for path, relative in files:
                archive.write(path, relative.as_posix())
        zipped = raw.tell()
    pymysql = [path for path, relative in files if relative.parts[0].lower().startswith("pymysql")]
    return (
        sum(path.stat().st_size for path, _ in files) / 1e6,
        zipped / 1e6,
        sum(path.stat().st_size for path in pymysql) / 1e6,
    )


def _tree_mb(directory: Path) -> float:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file()) / 1e6


def lambda_bytecode() -> str | None:
    """The cache tag of the pycs the zip would hold if synthesized here, or None."""
    from cdk_constructs.python_bundling import bytecode_interpreter, cache_tag
    from cdk_constructs.vpc_function import PYTHON_RUNTIME

    version = PYTHON_RUNTIME.name.removeprefix("python")
    return cache_tag(version) if bytecode_interpreter(version) else None


FAMILY_LABELS = {"postgresql": "", "mysql": " (MySQL)"}
"""After "API cold init" in each family's rows (PostgreSQL's keep their names)."""


def family_cold_starts(roots: dict[str, Path], family: str) -> dict[str, dict[str, float]]:
    """{"no bytecode": times, "bytecode": times} on a new local database of `family`."""
    from local_stack.database import local_database

    item_id = str(uuid.uuid4())
    with local_database(family) as database:
        with database.admin() as admin, admin.cursor() as cursor:
            cursor.execute("INSERT INTO items (id, name) VALUES (%s, 'cold')", (item_id,))
        return {
            label: cold_starts(roots[root], roots["runtime"], database.environment, item_id)
            for label, root in (("no bytecode", "source"), ("bytecode", "bytecode"))
        }


def rows() -> list[Row]:
    """(metric, value, target or baseline, ratio): cold init with and without bytecode for each
    engine family, which one Lambda sees, and the package's unzipped size against its target."""
    if str(API_PACKAGE.parent) not in sys.path:
        sys.path.insert(0, str(API_PACKAGE.parent))  # db_migrate, as in its zip

    package_mb, zipped_mb, pymysql_mb = lambda_package_mb()  # first: may need the package index
    with task_roots() as roots:
        measured = {family: family_cold_starts(roots, family) for family in FAMILY_LABELS}
        pyc_mb = _tree_mb(roots["bytecode"]) - _tree_mb(roots["source"])
    seen = lambda_bytecode()
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    target = f"{INIT_TARGET_MS} ms"
    result: list[Row] = []
    for family, family_label in FAMILY_LABELS.items():
        for label, times in measured[family].items():
            name = f"API cold init{family_label}, {label}"
            total = init_ms(times)
            result += [
                (f"{name}: import (ms)", f"{times['import_ms']:.0f}", "", ""),
                (f"{name}: first request (ms)", f"{times['first_ms']:.0f}", "", ""),
                (f"{name}: connect (ms)", f"{times['connect_ms']:.1f}", "", ""),
                (
                    f"{name} (ms, Python {version})",
                    f"{total:.0f}",
                    target,
                    f"{total / INIT_TARGET_MS:.2f}x",
                ),
            ]
    result += [
        (
            "API cold init Lambda sees",
            f"bytecode ({seen})" if seen else "no bytecode (no python3.14 at synth)",
            "",
            "",
        ),
        (
            "Lambda package unzipped (MB, no bytecode)",
            f"{package_mb:.1f}",
            f"{PACKAGE_TARGET_MB:.0f} MB",
            f"{package_mb / PACKAGE_TARGET_MB:.2f}x",
        ),
        ("Lambda package zipped (MB, no bytecode)", f"{zipped_mb:.1f}", "", ""),
        ("Lambda package: PyMySQL's share (MB, unzipped)", f"{pymysql_mb:.2f}", "", ""),
        ("Lambda package: pycs add (MB, this Python's)", f"{pyc_mb:.1f}", "", ""),
    ]
    return result


def main() -> None:
    if sys.argv[1:2] == ["--probe"]:
        probe(*sys.argv[2:4])
        return
    from bench.api_bench import render

    caption = (__doc__ or "").splitlines()[0]
    print(render(("metric", "value", "target", "ratio"), rows(), [caption]))


if __name__ == "__main__":
    main()
