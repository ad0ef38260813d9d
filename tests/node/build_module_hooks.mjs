// Module hooks for tests/node/register.mjs: `./build.js` imported from the Worker's sources
// resolves to the rendered build module held in memory.
let source;

export async function initialize(data) {
  source = data.source;
}

export async function resolve(specifier, context, nextResolve) {
  if (specifier === "./build.js" && context.parentURL?.includes("/worker_template/src/")) {
    return { url: "flaregate:build.js", shortCircuit: true };
  }
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (url === "flaregate:build.js") return { format: "module", source, shortCircuit: true };
  return nextLoad(url, context);
}
