"""flaregate as a user gets it: an sdist and a wheel built from a copy of the source tree, the wheel
installed into a fresh virtual environment outside the repository.

The copy leaves out what a clean checkout does not have (.venv, node_modules, build/, dist/,
caches), so a file that only exists in this working tree cannot sneak into the package. The wheel
is built from the unpacked sdist, as pip does for an sdist, which proves the sdist complete too.

The fresh environment gets flaregate from the wheel and nothing else: its own site-packages comes
first on sys.path, and its dependencies (pulumi, the Cloudflare SDK, ...) are borrowed from the
test .venv through a .pth line appended after it, instead of being downloaded again. A .pth line
only adds a directory; the .pth files inside it (the editable install's import hook) are not run,
so nothing of the checkout is importable there; tests assert where flaregate is imported from.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import tarfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOT_IN_A_CHECKOUT = (
    ".git",
    ".venv",
    "node_modules",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    ".flaregate",
    ".wrangler",
)


@dataclass(frozen=True)
class Installed:
    sdist: Path
    wheel: Path
    venv: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    @property
    def flaregate(self) -> Path:
        return self.bin / "flaregate"

    @property
    def site_packages(self) -> Path:
        return next((self.venv / "lib").glob("python3*/site-packages"))


def build_and_install(workdir: Path) -> Installed:
    source = workdir / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*NOT_IN_A_CHECKOUT))
    dist = workdir / "dist"
    _build(source, "build_sdist", dist)
    sdist = next(dist.glob("flaregate-*.tar.gz"))
    with tarfile.open(sdist) as archive:
        archive.extractall(workdir / "unpacked", filter="data")
    unpacked = next((workdir / "unpacked").iterdir())
    _build(unpacked, "build_wheel", dist)
    wheel = next(dist.glob("flaregate-*.whl"))

    venv = workdir / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    installed = Installed(sdist, wheel, venv)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(installed.python), "install", "-q"]
        + ["--no-deps", "--no-index", str(wheel)],
        check=True,
    )
    deps = sysconfig.get_paths()["purelib"]
    (installed.site_packages / "zz_test_dependencies.pth").write_text(deps + "\n")
    return installed


def _build(source: Path, hook: str, out: Path) -> None:
    """A PEP 517 build with the test environment's setuptools (no download per run)."""
    out.mkdir(exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; from setuptools import build_meta; build_meta.{hook}(sys.argv[1])",
            str(out),
        ],
        cwd=source,
        check=True,
        capture_output=True,
    )
