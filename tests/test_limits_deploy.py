"""The per-key limiter's Durable Object as deployed: the Pulumi program's binding and migration
(checked against the provider's own input types), wrangler.toml's, and the rendered Worker
exporting the class they name."""

from __future__ import annotations

import re
import tomllib

from flaregate import durable_objects
from flaregate.config import WorkerConfig
from flaregate.render import render
from tests.pulumi_mocks import reveal, run_program

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
SCRIPT = "cloudflare:index/workersScript:WorkersScript"


def test_pulumi_binds_the_limiter_and_migrates_it_to_a_sqlite_class():
    d = run_program({"accountId": ACCOUNT})
    script = d.one(SCRIPT)
    limiter = {b["name"]: b for b in reveal(script["bindings"])}["KEY_LIMITER"]
    assert limiter == {
        "name": "KEY_LIMITER",
        "type": "durable_object_namespace",
        "className": "KeyLimiter",
    }
    assert script["migrations"] == {
        "newTag": "flaregate-v1-key-limiter",
        "newSqliteClasses": ["KeyLimiter"],
    }


def test_binding_and_migration_match_the_providers_input_types():
    import pulumi_cloudflare as cloudflare

    # Unknown argument names raise TypeError here: the shapes infra/worker.py passes exist.
    cloudflare.WorkersScriptBindingArgs(
        name="KEY_LIMITER", type="durable_object_namespace", class_name="KeyLimiter"
    )
    cloudflare.WorkersScriptMigrationsArgs(
        new_tag=durable_objects.MIGRATION_TAG, new_sqlite_classes=durable_objects.sqlite_classes()
    )


def test_wrangler_toml_binds_and_migrates_the_class_the_worker_exports():
    rendered = render(WorkerConfig())
    toml = tomllib.loads(rendered.wrangler_toml)
    assert toml["durable_objects"]["bindings"] == [
        {"name": "KEY_LIMITER", "class_name": "KeyLimiter"}
    ]
    assert toml["migrations"] == [
        {"tag": "flaregate-v1-key-limiter", "new_sqlite_classes": ["KeyLimiter"]}
    ]
    exported = re.findall(r"^export \{ (\w+) \};$", rendered.script, re.M)
    assert exported == ["KeyLimiter"]
    assert re.search(r"^class KeyLimiter\b", rendered.script, re.M)
