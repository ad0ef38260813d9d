"""`flaregate dev`: serve the Worker on this machine (the work is in flaregate/dev_server.py)."""

from __future__ import annotations

import signal
from pathlib import Path

import click

from .cli_options import config_option


@click.command()
@config_option
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8787,
    show_default=True,
    help="Port to serve on (127.0.0.1); 0 picks a free one.",
)
@click.option(
    "--remote/--stand-in",
    "remote",
    default=None,
    help="Workers AI: real models on your account through Miniflare's remote bindings (needs "
    "$CLOUDFLARE_API_TOKEN and $CLOUDFLARE_ACCOUNT_ID), or the built-in stand-in. Default: "
    "remote when both variables are set.",
)
@click.option(
    "--fresh", is_flag=True, help="Start with an empty key ring (and print a new dev key)."
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".flaregate/dev"),
    show_default=True,
    help="Where the rendered Worker and the local key ring are kept between runs.",
)
def dev(config, port: int, remote: bool | None, fresh: bool, state_dir: Path) -> None:
    """Serve the Worker locally in workerd, with a local key ring and a dev API key.

    Needs Node.js 20+; the pinned Miniflare is installed with npm on first use into a per-user
    cache. Without a Cloudflare account, a built-in stand-in answers for Workers AI (not a
    model: for trying clients and integrations). Ctrl-C stops everything it started.

    Example usage:

    \b
        flaregate dev
        flaregate dev --port 9000 --config flaregate.toml --fresh
    """
    from .dev_server import DevOptions, banner, start

    def say(message: str) -> None:
        click.echo(message, err=True)

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    options = DevOptions(config, port, state_dir, fresh, remote)
    # SIGTERM (a supervisor, `kill`) stops it as cleanly as Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, interrupt)
    server = None
    try:
        server = start(options, say)
        click.echo(banner(server, state_dir))
        code = server.wait()
        raise click.ClickException(f"the local Worker runner exited unexpectedly (code {code})")
    except KeyboardInterrupt:
        say("\nStopping...")
    finally:
        if server is not None:
            server.stop()
        signal.signal(signal.SIGTERM, previous)
    say("Stopped.")
