"""A copy of worker_template/src that Node loads as ES modules, for tests that run one Worker
module outside workerd (its pure logic, or a Cloudflare failure workerd cannot stage)."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def copy_worker_sources(dest: Path) -> Path:
    for path in (REPO / "worker_template" / "src").glob("*.js"):
        shutil.copy(path, dest / path.name)
    # build.js is rendered from build.js.j2: an empty catalog and defaults stand in.
    (dest / "build.js").write_text(
        "export const VERSION = 'test';\nexport const BUILTIN_SETTINGS = {};\n"
        "export const CATALOG = { models: [], aliases: {} };\n"
    )
    (dest / "package.json").write_text('{"type": "module"}')
    return dest
