"""Entry point for `pulumi up` from the repository root (Pulumi.yaml: main: infra/).

This directory is installed as ``flaregate.infra`` (pyproject.toml), and the program is imported
under that name: from the editable install docs/deploy.md sets up in ``.venv``
(``pip install -e .``), so `pulumi up` runs the clone's files, the same program `flaregate deploy`
hands to the Automation API.
"""

from flaregate.infra.program import flaregate_program

flaregate_program()
