"""Lambda zips for Python functions, built on this machine (no Docker).

Dependencies come from pip as wheels for the function's runtime and architecture
(``--platform manylinux... --only-binary=:all:``), so the zip is right for Lambda whatever the
build machine is. They are cached by the hash of the requirements, the runtime and the
architecture, so synth touches the package index only when the requirements change. What the
runtime already has and what no function imports (``PRUNED``) stay out of the zip.

Bytecode: Lambda's ``/var/task`` is read-only, so a zip without ``.pyc`` files compiles every
module it imports again on every cold start. ``.pyc`` files are per interpreter version, so they
are written only by an interpreter of the runtime's exact version (``python3.14`` on the PATH,
checked by its cache tag); without one, the zip has none rather than wrong ones. They are
unchecked-hash pycs (PEP 552, https://peps.python.org/pep-0552/): CDK zips every file with one
fixed timestamp, which a timestamp-checked pyc would never match, and hash checking would read
every source again.

Not SnapStart, yet: it restores published versions and their aliases only, never ``$LATEST``
(https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html); API Gateway invokes the API's
``live`` alias, so it could, but for Python it bills every cached snapshot and every restore
(https://aws.amazon.com/lambda/pricing/). The API function connects and signs its token only
on its first request, so a snapshot holds no connection and no token, and needs no runtime hook
for them
(https://docs.aws.amazon.com/lambda/latest/dg/snapstart-runtime-hooks-python.html).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

BUNDLER_VERSION = "2"
"""Bump to rebuild every cached dependency set and zip after changing how they are built."""

_PIP_PLATFORMS = {
    lambda_.Architecture.ARM_64.name: ("manylinux_2_28_aarch64", "manylinux2014_aarch64"),
    lambda_.Architecture.X86_64.name: ("manylinux_2_28_x86_64", "manylinux2014_x86_64"),
}
"""Wheel platform tags Lambda's Amazon Linux 2023 (glibc 2.34) can load, newest first."""

RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
"""Import names the Lambda Python runtime already has: dropped from the zip (AWS's advice)."""
_RUNTIME_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "python_dateutil", "six",
                          "urllib3")  # fmt: skip

_UNUSED_POWERTOOLS_UTILITIES = (
    "auth_alpha", "batch", "circuit_breaker", "data_masking", "feature_flags", "idempotency",
    "kafka", "parameters", "parser", "streaming", "validation",
)  # fmt: skip

PRUNED: tuple[tuple[str, str], ...] = (
    ("**/*.pyi", "type stubs: read by type checkers, never imported"),
    ("*-stubs/**", "stub-only packages"),
    ("**/*.c", "C sources shipped beside their compiled extension"),
    ("bin/**", "console scripts of pip's --target install"),
    ("*/tests/**", "the dependencies' own tests"),
    ("pydantic/v1/**", "pydantic 1 compatibility, imported only for pydantic 1 types"),
    ("pydantic/mypy.py", "pydantic's mypy plugin"),
    *(
        (f"aws_lambda_powertools/event_handler/openapi/swagger_ui/*.{kind}", "Swagger UI's assets")
        for kind in ("js", "css")
    ),
    *(
        (f"aws_lambda_powertools/utilities/{name}/**", "a Powertools utility no function imports")
        for name in _UNUSED_POWERTOOLS_UTILITIES
    ),
)
"""(glob relative to the zip's root, why it is left out): files no function imports. A function
that starts using one must take it off this list (a test fails until then). Globs: ``**/`` is
any number of directories, ``*`` any part of one name."""

_IGNORED_SOURCES = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache"})


def _python_version(runtime: lambda_.Runtime) -> str:
    """``python3.14`` -> ``3.14``."""
    prefix = "python"
    if not runtime.name.startswith(prefix):
        raise ValueError(f"{runtime.name} is not a Python runtime")
    return runtime.name.removeprefix(prefix)


def pip_platforms(machine: str) -> tuple[str, ...]:
    """The wheel platform tags for a machine (``platform.machine()``: ``aarch64``, ``x86_64``)
    or a Lambda architecture name (``arm64``, ``x86_64``)."""
    return _PIP_PLATFORMS[{"aarch64": "arm64", "amd64": "x86_64"}.get(machine.lower(), machine)]


def cache_tag(python_version: str) -> str:
    """``3.14`` -> ``cpython-314``: the tag in the names of the pycs that version reads."""
    major, minor = python_version.split(".")
    return f"cpython-{major}{minor}"


@functools.cache
def bytecode_interpreter(python_version: str) -> str | None:
    """An interpreter on the PATH whose pycs ``python_version`` reads (same cache tag), or None.
    This one is used when it is that version; another is checked by running it once."""
    wanted = cache_tag(python_version)
    if sys.implementation.cache_tag == wanted:
        return sys.executable
    found = shutil.which(f"python{python_version}")
    if found is None:
        return None
    probe = subprocess.run(  # noqa: S603 - the interpreter found on the PATH, a fixed one-liner
        [found, "-c", "import sys; print(sys.implementation.cache_tag)"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    return found if probe.returncode == 0 and probe.stdout.strip() == wanted else None


def compile_bytecode(directory: Path, interpreter: str) -> None:
    """Unchecked-hash pycs next to every module under ``directory`` (``__pycache__``)."""
    subprocess.run(  # noqa: S603 - an interpreter checked by bytecode_interpreter
        [
            interpreter,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            str(directory),
        ],
        check=True,
        # A pycache prefix would put the pycs outside the package, and the zip would have none.
        env={k: v for k, v in os.environ.items() if k != "PYTHONPYCACHEPREFIX"},
    )


def _tree_digest(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(path.relative_to(directory).as_posix().encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _glob(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\*\*/|\*\*|\*)", pattern)
    wildcards = {"**/": "(?:[^/]+/)*", "**": ".*", "*": "[^/]*"}
    return re.compile("".join(wildcards.get(part) or re.escape(part) for part in parts) + r"\Z")


_PRUNED_PATHS = [_glob(pattern) for pattern, _ in PRUNED]


def asset_hash(
    package_dir: Path, python_version: str, platforms: tuple[str, ...], *, bytecode: str | None
) -> str:
    """The zip's identity: bundler, what it leaves out, runtime, platforms, pycs (their cache
    tag) and the package's sources (requirements included)."""
    pruned = (pattern for pattern, _ in PRUNED)
    parts = (BUNDLER_VERSION, *pruned, python_version, *platforms, bytecode or "no-bytecode")
    return hashlib.sha256("\n".join((*parts, _tree_digest(package_dir))).encode()).hexdigest()


def _pruned(relative: PurePosixPath) -> bool:
    return any(pattern.match(relative.as_posix()) for pattern in _PRUNED_PATHS)


def package_files(
    package_dir: Path, *, python_version: str, platforms: tuple[str, ...], cache_dir: Path
) -> Iterator[tuple[Path, PurePosixPath]]:
    """(file, its path in the zip) of everything the zip holds: the installed requirements
    minus ``PRUNED``, then ``package_dir`` as the package of the same name (sources only)."""
    dependencies = installed_dependencies(
        package_dir / "requirements.txt",
        python_version=python_version,
        platforms=platforms,
        cache_dir=cache_dir,
    )
    for path in sorted(dependencies.rglob("*")):
        relative = PurePosixPath(path.relative_to(dependencies).as_posix())
        if path.is_file() and not _pruned(relative):
            yield path, relative
    for path in sorted(package_dir.rglob("*")):
        relative = PurePosixPath(package_dir.name, path.relative_to(package_dir).as_posix())
        if path.is_file() and path.suffix != ".pyc" and _IGNORED_SOURCES.isdisjoint(relative.parts):
            yield path, relative


def write_package(
    files: Iterator[tuple[Path, PurePosixPath]], output: Path, *, link_from: Path | None = None
) -> None:
    """Copies ``package_files`` to ``output``, where the zip is made from.

    Files under ``link_from`` (the dependency cache: written once, then only read) are hard
    links instead, where the file system allows and the file has the mode a copy would get, so
    the zip is the same; the API function's dependencies are ~500 files, ~12 MB. Never the
    package's sources: an edit in place would change what an already built asset holds.
    """
    copy_mode: int | None = None
    for path, relative in files:
        target = output.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        if link_from is not None:
            # Never write through a link a previous run left here into the cache itself.
            target.unlink(missing_ok=True)
            if path.is_relative_to(link_from):
                if copy_mode is None:
                    copy_mode = _new_file_mode(target.parent)
                if _hard_link(path, target, copy_mode):
                    continue
        shutil.copyfile(path, target)


def _new_file_mode(directory: Path) -> int:
    """The permission bits a file created in ``directory`` gets, as ``shutil.copyfile``
    creates it (0o666 less the umask, which cannot be read without setting it)."""
    probe = Path(tempfile.mktemp(dir=directory))  # noqa: S306 - created exclusively below
    descriptor = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    try:
        return stat.S_IMODE(os.fstat(descriptor).st_mode)
    finally:
        os.close(descriptor)
        probe.unlink()


def _hard_link(source: Path, target: Path, mode: int) -> bool:
    """Link ``target`` to ``source`` if ``source`` has ``mode``; False when it has another or the
    file system refuses (another device, no hard links): then it is copied."""
    if stat.S_IMODE(source.stat().st_mode) != mode:
        return False
    try:
        target.hardlink_to(source)
    except OSError:
        return False
    return True


@jsii.implements(ILocalBundling)
class _LocalPythonBundling:
    """Writes the zip's files (``package_files``) into the asset's output directory, compiled
    when an interpreter of the runtime's version is at hand."""

    def __init__(
        self,
        *,
        package_dir: Path,
        python_version: str,
        platforms: tuple[str, ...],
        cache_dir: Path,
        interpreter: str | None,
    ) -> None:
        self._package_dir = package_dir
        self._python_version = python_version
        self._platforms = platforms
        self._cache_dir = cache_dir
        self._interpreter = interpreter

    def try_bundle(self, output_dir: str, *_options: Any, **_kw_options: Any) -> bool:
        """jsii passes the BundlingOptions struct positionally; nothing in it is needed here."""
        output = Path(output_dir)
        files = package_files(
            self._package_dir,
            python_version=self._python_version,
            platforms=self._platforms,
            cache_dir=self._cache_dir,
        )
        write_package(files, output, link_from=self._cache_dir)
        if self._interpreter is not None:
            compile_bytecode(output, self._interpreter)
        return True


def installed_dependencies(
    requirements: Path, *, python_version: str, platforms: tuple[str, ...], cache_dir: Path
) -> Path:
    """``requirements`` installed for Lambda (wheels for ``platforms``), minus what the runtime
    provides: from the cache, or installed into it first."""
    key = hashlib.sha256(
        "\n".join((BUNDLER_VERSION, python_version, *platforms, requirements.read_text())).encode()
    ).hexdigest()[:32]
    target = cache_dir / key
    if target.is_dir():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=cache_dir))
    platform_args = [arg for tag in platforms for arg in ("--platform", tag)]
    subprocess.run(  # noqa: S603 - fixed argv: this interpreter's pip on a committed file
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--python-version",
            python_version,
            *platform_args,
            "--target",
            str(staging),
            "--requirement",
            str(requirements),
        ],
        check=True,
    )
    _drop_runtime_provided(staging)
    try:
        staging.rename(target)  # atomic: a half-installed set is never used
    except OSError:
        shutil.rmtree(staging)  # another synth finished the same set first
    return target


def lambda_package_files(
    package_dir: Path,
    *,
    runtime: lambda_.Runtime,
    architecture: lambda_.Architecture,
    cache_dir: Path,
) -> Iterator[tuple[Path, PurePosixPath]]:
    """``package_files`` of the zip of a function with this runtime and architecture."""
    return package_files(
        package_dir,
        python_version=_python_version(runtime),
        platforms=_PIP_PLATFORMS[architecture.name],
        cache_dir=cache_dir,
    )


def _drop_runtime_provided(directory: Path) -> None:
    """Remove what pip pulled in that the runtime provides (botocore alone is ~25 MB)."""
    for name in RUNTIME_PROVIDED:
        for path in (directory / name, directory / f"{name}.py"):
            if path.is_dir():
                shutil.rmtree(path)
            elif path.is_file():
                path.unlink()
    for distribution in _RUNTIME_DISTRIBUTIONS:
        for info in directory.glob(f"{distribution}-*.dist-info"):
            shutil.rmtree(info)


def python_function_code(
    package_dir: Path,
    *,
    runtime: lambda_.Runtime,
    architecture: lambda_.Architecture,
    cache_dir: Path,
) -> lambda_.Code:
    """A zip holding ``package_dir`` as a package plus its pinned ``requirements.txt``.

    The handler is addressed as ``<package>.<module>.<function>``. The asset hash covers the
    package, the requirements, the runtime, the architecture and whether the zip has bytecode,
    so an unchanged function keeps its zip and is not redeployed, and a zip built with pycs
    never shares a hash with one built without.
    """
    python_version = _python_version(runtime)
    platforms = _PIP_PLATFORMS[architecture.name]
    interpreter = bytecode_interpreter(python_version)
    bytecode = cache_tag(python_version) if interpreter is not None else None
    return lambda_.Code.from_asset(
        str(package_dir),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=asset_hash(package_dir, python_version, platforms, bytecode=bytecode),
        bundling=BundlingOptions(
            # Never pulled: local bundling always succeeds or fails the synth.
            image=DockerImage.from_registry("local-bundling-only"),
            local=_LocalPythonBundling(
                package_dir=package_dir,
                python_version=python_version,
                platforms=platforms,
                cache_dir=cache_dir,
                interpreter=interpreter,
            ),
        ),
    )
