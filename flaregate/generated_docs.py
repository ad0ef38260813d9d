"""The docs that are generated from data the code uses; `flaregate docs` writes them."""

from __future__ import annotations

from .catalog import load_catalog, models_markdown
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
