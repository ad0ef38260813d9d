"""Render the Worker (one ES module) and its wrangler.toml from a :class:`WorkerConfig`.

The rendered ``worker.js`` is exactly what the Pulumi program uploads and what the tests run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import jinja2

from . import __version__, worker_template
from .catalog import load_catalog, worker_catalog
from .config import WorkerConfig
from .worker_modules import assemble

# worker_template/ in a checkout, flaregate/worker_template/ in a wheel (pyproject.toml maps it):
# found through the import system, never through a path relative to a source checkout.
TEMPLATE_DIR = Path(worker_template.__file__).resolve().parent
MAIN_MODULE = "worker.js"


@dataclass(frozen=True)
class RenderedWorker:
    script: str
    wrangler_toml: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.script.encode()).hexdigest()


def _environment() -> jinja2.Environment:
    # JavaScript is full of "{#" and "{{": the Worker modules are read raw, and only the templates
    # (worker.js.j2, src/build.js.j2, wrangler.toml.j2) use Jinja syntax, with comments switched
    # to an unused delimiter.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        comment_start_string="<#--",
        comment_end_string="--#>",
    )
    env.filters["toml"] = lambda value: json.dumps(value)
    return env


def build_module(config: WorkerConfig) -> str:
    """The one generated Worker module, ``build.js``: its version, settings and model catalog."""
    catalog = load_catalog(config.models, config.aliases, config.fallbacks)
    build = {
        "version": __version__,
        "settings": config.worker_settings(),
        "catalog": worker_catalog(catalog),
    }
    return _environment().get_template("src/build.js.j2").render(**build)


def render_worker(config: WorkerConfig) -> str:
    env = _environment()
    build = build_module(config)

    def read(name: str) -> str:
        if name == "build.js":
            return build
        return (TEMPLATE_DIR / "src" / name).read_text(encoding="utf-8")

    return env.get_template("worker.js.j2").render(version=__version__, modules=assemble(read))


def render_wrangler_toml(config: WorkerConfig) -> str:
    from . import durable_objects

    template = _environment().get_template("wrangler.toml.j2")
    objects = {
        "binding": durable_objects.LIMITER_BINDING,
        "class_name": durable_objects.LIMITER_CLASS,
        "tag": durable_objects.MIGRATION_TAG,
        "sqlite_classes": durable_objects.sqlite_classes(),
    }
    return template.render(
        config=config, main=MAIN_MODULE, version=__version__, durable_objects=objects
    )


def render(config: WorkerConfig) -> RenderedWorker:
    return RenderedWorker(render_worker(config), render_wrangler_toml(config))


def write_bundle(config: WorkerConfig, out_dir: Path) -> list[Path]:
    """Write worker.js and wrangler.toml into ``out_dir``; returns the paths written."""
    rendered = render(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    worker = out_dir / MAIN_MODULE
    wrangler = out_dir / "wrangler.toml"
    worker.write_text(rendered.script, encoding="utf-8")
    wrangler.write_text(rendered.wrangler_toml, encoding="utf-8")
    return [worker, wrangler]
