"""The docs that are generated from data the code uses; `flaregate docs` writes them into the
source checkout it runs in.
"""

from __future__ import annotations

from pathlib import Path

from .catalog import load_catalog, models_markdown
from .errors import FlaregateError
from .permissions import permissions_markdown
from .stack_config import stack_config_markdown

# Each entry: file name under docs/ -> function returning its text.
GENERATORS = {
    "models.md": lambda: models_markdown(load_catalog()),
    "permissions.md": permissions_markdown,
    "stack-config.md": stack_config_markdown,
}


def generated_docs() -> dict[str, str]:
    return {name: make() for name, make in GENERATORS.items()}


def checkout_docs_dir(cwd: Path) -> Path:
    """docs/ of the flaregate checkout around ``cwd``, which this flaregate must be installed from:
    the check compares the running code's data with the checkout's files."""
    import flaregate

    here = cwd.resolve()
    root = next(
        (
            d
            for d in (here, *here.parents)
            if (d / "pyproject.toml").is_file() and (d / "worker_template").is_dir()
        ),
        None,
    )
    if root is None:
        raise FlaregateError(
            "flaregate docs regenerates the docs of a flaregate source checkout, and "
            f"{here} is not inside one: run it in a clone of the repository "
            "(the installed package has no docs/ to check)"
        )
    package = Path(flaregate.__file__).resolve().parent
    if package != root / "flaregate":
        raise FlaregateError(
            f"this flaregate runs from {package}, not from the checkout at {root}, so its data "
            "may not match the checkout's docs: install the checkout with `pip install -e .` "
            "and run it again"
        )
    return root / "docs"
