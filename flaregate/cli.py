"""The ``flaregate`` command line. Commands are small; the work happens in the library modules.

Domain errors (:class:`flaregate.errors.FlaregateError`) become one clear message and a non-zero
exit here, in one place. Heavy imports (Pulumi, the Cloudflare SDK) happen inside commands so that
``flaregate --help`` stays fast.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from . import __version__
from .cli_options import config_option
from .errors import FlaregateError


class FlaregateGroup(click.Group):
    """Turns domain errors into click errors so every command fails the same way.

    Anything else that escapes a command is still one line, never a traceback (which could
    carry a secret from a local variable): a Cloudflare SDK error gets the standard explanation,
    a file system error names the path, an invalid URL in $CLOUDFLARE_BASE_URL says so, and the
    rest is reported as a bug, with the traceback only under FLAREGATE_DEBUG=1.
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except FlaregateError as err:
            raise click.ClickException(str(err)) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as err:
            if os.environ.get("FLAREGATE_DEBUG") == "1":
                raise
            raise click.ClickException(_unexpected(err)) from None


def _unexpected(err: Exception) -> str:
    """One line for an exception no command turned into a domain error."""
    name = type(err).__name__
    detail = " ".join(str(err).split())[:200]
    token = os.environ.get("CLOUDFLARE_API_TOKEN")
    if token:
        detail = detail.replace(token, "[redacted]")
    if type(err).__module__.split(".")[0] == "cloudflare":
        # An SDK error a command did not explain itself: the standard explanation still applies.
        from .cloudflare_api import explain_api_error

        return str(explain_api_error(err, "calling the Cloudflare API"))
    if isinstance(err, OSError) and err.strerror:
        where = f" {str(err.filename)[:100]}" if err.filename else ""
        return f"{err.strerror}:{where}; check the path and its permissions"
    if name in ("InvalidURL", "UnsupportedProtocol"):
        return (
            f"invalid Cloudflare API URL ({detail}): fix $CLOUDFLARE_BASE_URL, or unset it to "
            "use https://api.cloudflare.com/client/v4"
        )
    return (
        f"unexpected {name}: {detail}. This is a bug in flaregate; please report it with the "
        "command you ran (FLAREGATE_DEBUG=1 shows the traceback)."
    )


@click.group(cls=FlaregateGroup)
@click.version_option(__version__, prog_name="flaregate")
def main() -> None:
    """Your own OpenAI-compatible API on Cloudflare Workers AI."""


@main.command()
@config_option
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("dist"),
    show_default=True,
    help="Directory to write worker.js and wrangler.toml into.",
)
@click.option("--kv-namespace-id", default=None, help="KEYS namespace id for wrangler.toml.")
def render(config, out_dir: Path, kv_namespace_id: str | None) -> None:
    """Render the Worker and its wrangler.toml.

    Example usage:

        flaregate render --out dist/
        npx wrangler deploy --config dist/wrangler.toml
    """
    from .render import write_bundle

    if kv_namespace_id:
        config.kv_namespace_id = kv_namespace_id
    for path in write_bundle(config, out_dir):
        click.echo(f"wrote {path} ({path.stat().st_size:,} bytes)")


@main.command()
@click.option(
    "--check", is_flag=True, help="Exit non-zero if a generated doc is stale instead of writing it."
)
@click.option(
    "--docs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the docs are (default: docs/ of the flaregate checkout you are in).",
)
def docs(check: bool, docs_dir: Path | None) -> None:
    """Regenerate the docs tables (models, permissions, stack config) from the data the code uses.

    For developing flaregate: run it inside a clone of the repository, with flaregate installed
    from that clone (`pip install -e .`).

    Example usage:

        flaregate docs --check
    """
    from .generated_docs import checkout_docs_dir, generated_docs

    if docs_dir is None:
        docs_dir = checkout_docs_dir(Path.cwd())

    stale = []
    for name, text in generated_docs().items():
        path = docs_dir / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if check:
            stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            click.echo(f"wrote {path}")
    if stale:
        raise click.ClickException(
            f"stale generated docs: {', '.join(stale)}; run `flaregate docs`"
        )


# Commands that live in their own modules (imported last: they use the decorators above).
from .cli_doctor import doctor  # noqa: E402
from .cli_keys import keys, rotate_key  # noqa: E402
from .cli_models import models  # noqa: E402
from .cli_token import check_token  # noqa: E402
from .cli_usage import usage  # noqa: E402

main.add_command(keys)
main.add_command(rotate_key)
main.add_command(check_token)
main.add_command(usage)
main.add_command(doctor)
main.add_command(models)

# Deploy, preview, destroy, status, origin-cert (flaregate/cli_deploy.py).
from .cli_deploy import register as _register_deploy_commands  # noqa: E402

_register_deploy_commands(main)

# Local serving (flaregate/cli_dev.py).
from .cli_dev import dev  # noqa: E402

main.add_command(dev)
