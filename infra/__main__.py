"""Entry point for `pulumi up` from the repository root (Pulumi.yaml: main: infra/).

Pulumi runs this file by path, so the repository root is put on sys.path for `import infra` and
`import flaregate` when flaregate is not pip-installed.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.program import flaregate_program  # noqa: E402

flaregate_program()
