// Lets the Node unit tests import the Worker's modules straight from worker_template/src. The one
// generated module, build.js (version, settings, model catalog), is rendered by flaregate once per
// test process and served from memory to whichever module imports it.
//
//   node --import ./tests/node/register.mjs --test tests/node/     (what scripts/test runs)
import { execFileSync } from "node:child_process";
import { register } from "node:module";

const python = process.env.FLAREGATE_PYTHON ?? ".venv/bin/python";
const source = execFileSync(
  python,
  ["-c", "from flaregate.config import WorkerConfig; from flaregate.render import build_module; print(build_module(WorkerConfig()), end='')"],
  { encoding: "utf8" },
);
register("./build_module_hooks.mjs", import.meta.url, { data: { source } });
