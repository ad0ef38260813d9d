"""The Worker's Durable Objects, named once for the renderer (wrangler.toml) and the Pulumi program.

One class today: ``KeyLimiter`` (worker_template/src/limits.js), the per-key rate and token
counters, bound as ``KEY_LIMITER`` and stored in SQLite (the storage backend the free plan has).

Migrations: a Durable Object class must be introduced to a Worker by a migration carrying a tag,
and Cloudflare records the last tag applied to each Worker. flaregate Workers deployed before
limits existed carry no tag, so the first deploy with limits applies ``MIGRATION_TAG`` (creating
the SQLite-backed class, so existing deployments migrate in place; no data existed to move).
``old_tag`` is left out on purpose: it would have to be absent on the first deploy over an old
Worker and equal to this tag on every deploy after it, and the program cannot know which it is
without a read at plan time. wrangler (wrangler.toml's ``[[migrations]]``) reads the current
tag and sends only newer migrations; the Pulumi provider sends this block with every upload,
which Cloudflare is expected to accept as already applied when the Worker's tag equals
``new_tag`` (not verifiable without a real account; docs/keys.md says so). A future class gets a
new tag, never a changed one: a tag applied once is never applied again, so editing it would
silently skip the change.
"""

from __future__ import annotations

LIMITER_BINDING = "KEY_LIMITER"
"""The binding name the Worker reads (limits.js LIMITER_BINDING)."""
LIMITER_CLASS = "KeyLimiter"
"""The class the rendered Worker exports (router.js re-exports it from limits.js)."""
MIGRATION_TAG = "flaregate-v1-key-limiter"


def sqlite_classes() -> list[str]:
    """The SQLite-backed classes the migration creates."""
    return [LIMITER_CLASS]
