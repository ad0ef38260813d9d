#!/usr/bin/env node
// The local runner lives in the package (flaregate/local/runner.mjs: `flaregate dev` ships it);
// this path keeps `node scripts/worker-runner.mjs ...` working from a checkout, with the
// recorded outputs in tests/fixtures/workers-ai as the stand-in's fixtures unless --fixtures
// names others. Options and output: see the runner's header.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
if (!process.argv.includes("--fixtures")) {
  process.argv.push("--fixtures", join(here, "..", "tests", "fixtures", "workers-ai"));
}
await import("../flaregate/local/runner.mjs");
