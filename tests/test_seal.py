"""worker_template/src/seal.js in Node (the same WebCrypto the Worker uses): what a deployment
without REASONING_SECRET does, which the session's Worker (it has the secret) cannot show."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

SEAL = Path(__file__).resolve().parent.parent / "worker_template" / "src" / "seal.js"

SCRIPT = """
const { sealReasoning, openReasoning } = await import(process.argv[1]);
const withSecret = { REASONING_SECRET: "s3cret" };
const out = {};
const mine = await sealReasoning({}, "k1", "thought");
out.ephemeralRoundTrip = await openReasoning({}, "k1", mine);
out.ephemeralOtherKey = await openReasoning({}, "k2", mine);
const fromElsewhere = await sealReasoning(withSecret, "k1", "thought");
out.ephemeralForeignBlob = await openReasoning({}, "k1", fromElsewhere);
out.secretRoundTrip = await openReasoning({ REASONING_SECRET: "s3cret" }, "k1", fromElsewhere);
out.secretOtherSecret = await openReasoning({ REASONING_SECRET: "other" }, "k1", fromElsewhere);
out.secretForged = await openReasoning(withSecret, "k1", "fg1." + "A".repeat(60));
out.blob = fromElsewhere;
console.log(JSON.stringify(out));
"""


def test_sealed_reasoning_with_and_without_the_secret():
    result = subprocess.run(
        ["node", "--input-type=module", "-e", SCRIPT, SEAL.as_uri()],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    # Without the secret: an isolate opens its own blobs, for the key they were sealed for...
    assert out["ephemeralRoundTrip"] == {"text": "thought"}
    # ...and drops (rather than refuses) what it cannot open: it may come from another isolate.
    assert out["ephemeralOtherKey"] == {"text": None, "dropped": True}
    assert out["ephemeralForeignBlob"] == {"text": None, "dropped": True}
    # With the secret: any isolate opens it; another secret or a forgery is refused.
    assert out["secretRoundTrip"] == {"text": "thought"}
    assert out["secretOtherSecret"] == {"text": None, "dropped": False}
    assert out["secretForged"] == {"text": None, "dropped": False}
    assert out["blob"].startswith("fg1.") and "thought" not in out["blob"]
