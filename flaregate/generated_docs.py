"""The docs that are generated from data the code uses; `flaregate docs` writes them."""

from __future__ import annotations

from .catalog import load_catalog, models_markdown
from .permissions import permissions_markdown

# Each entry: file name under docs/ -> function returning its text. Later features
# (the permission table) register theirs here.
GENERATORS = {
    "models.md": lambda: models_markdown(load_catalog()),
    "permissions.md": permissions_markdown,
}


def generated_docs() -> dict[str, str]:
    return {name: make() for name, make in GENERATORS.items()}
