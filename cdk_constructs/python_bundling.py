"""Lambda zips for Python functions, built on this machine (no Docker).

Dependencies come from pip as wheels for the function's runtime and architecture
(``--platform manylinux... --only-binary=:all:``), so the zip is right for Lambda whatever the
build machine is. They are cached by the hash of the requirements, the runtime and the
architecture, so synth touches the package index only when the requirements change.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
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

_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache")


def _python_version(runtime: lambda_.Runtime) -> str:
    """``python3.14`` -> ``3.14``."""
    prefix = "python"
    if not runtime.name.startswith(prefix):
        raise ValueError(f"{runtime.name} is not a Python runtime")
    return runtime.name.removeprefix(prefix)


def _tree_digest(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(path.relative_to(directory).as_posix().encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


@jsii.implements(ILocalBundling)
class _LocalPythonBundling:
    """Copies cached dependencies and the package into the asset's output directory."""

    def __init__(
        self,
        *,
        package_dir: Path,
        requirements: Path,
        python_version: str,
        platforms: tuple[str, ...],
        cache_dir: Path,
    ) -> None:
        self._package_dir = package_dir
        self._requirements = requirements
        self._python_version = python_version
        self._platforms = platforms
        self._cache_dir = cache_dir

    def try_bundle(self, output_dir: str, *_options: Any, **_kw_options: Any) -> bool:
        """jsii passes the BundlingOptions struct positionally; nothing in it is needed here."""
        output = Path(output_dir)
        dependencies = installed_dependencies(
            self._requirements,
            python_version=self._python_version,
            platforms=self._platforms,
            cache_dir=self._cache_dir,
        )
        shutil.copytree(dependencies, output, dirs_exist_ok=True)
        shutil.copytree(
            self._package_dir, output / self._package_dir.name, ignore=_IGNORED, dirs_exist_ok=True
        )
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


def lambda_dependencies(
    requirements: Path,
    *,
    runtime: lambda_.Runtime,
    architecture: lambda_.Architecture,
    cache_dir: Path,
) -> Path:
    """What the zip of a function with this runtime and architecture holds besides its code."""
    return installed_dependencies(
        requirements,
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
    package, the requirements, the runtime and the architecture, so an unchanged function keeps
    its zip and is not redeployed.
    """
    requirements = package_dir / "requirements.txt"
    python_version = _python_version(runtime)
    platforms = _PIP_PLATFORMS[architecture.name]
    asset_hash = hashlib.sha256(
        "\n".join((BUNDLER_VERSION, python_version, *platforms, _tree_digest(package_dir))).encode()
    ).hexdigest()
    return lambda_.Code.from_asset(
        str(package_dir),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=asset_hash,
        bundling=BundlingOptions(
            # Never pulled: local bundling always succeeds or fails the synth.
            image=DockerImage.from_registry("local-bundling-only"),
            local=_LocalPythonBundling(
                package_dir=package_dir,
                requirements=requirements,
                python_version=python_version,
                platforms=platforms,
                cache_dir=cache_dir,
            ),
        ),
    )
