// The Workers AI stand-in moved to flaregate/local/stand_in_ai.js (shipped for `flaregate dev`).
// This path keeps Node imports of scripts/fake_ai.js working from a checkout; Miniflare is given
// the real file (it loads wrapped-binding modules as text, without resolving imports).
export { default } from "../flaregate/local/stand_in_ai.js";
