// The Responses API fields that are echoed back in the response object (`metadata`, `user`,
// `text.format`, `tools`, `parallel_tool_calls`, `reasoning`) or that flaregate does not act on,
// checked the way OpenAI checks them before anything is echoed: a client cannot make every
// event of a stream carry megabytes it chose, nor a type the SDKs do not expect.
import { checkMaxLength, checkMetadata, checkType, checkTypes, FIELD_CAPS } from "./field_checks.js";
import { invalidRequest, typeName } from "./http.js";

const RESPONSES_FIELD_TYPES = {
  model: "string", instructions: "string", stream: "boolean", store: "boolean", background: "boolean",
  parallel_tool_calls: "boolean", include: "array", truncation: "string", top_logprobs: "integer",
  max_tool_calls: "integer", service_tier: "string", safety_identifier: "string",
  prompt_cache_key: "string", user: "string", temperature: "number", top_p: "number",
  max_output_tokens: "integer", reasoning: "object", text: "object", tools: "array",
  tool_choice: ["string", "object"], stream_options: "object",
};
const TEXT_FORMAT_TYPES = ["text", "json_object", "json_schema"];

export function checkResponsesFields(body) {
  checkTypes(body, RESPONSES_FIELD_TYPES);
  checkMetadata(body.metadata);
  checkMaxLength(body.user, FIELD_CAPS.userChars, "user");
  if (body.reasoning) {
    checkTypes(body.reasoning, { effort: "string", summary: "string" }, "reasoning.");
    checkMaxLength(body.reasoning.effort, FIELD_CAPS.schemaNameChars, "reasoning.effort");
  }
  if (body.text) {
    checkTypes(body.text, { format: "object", verbosity: "string" }, "text.");
    const format = body.text.format;
    if (format) {
      if (!TEXT_FORMAT_TYPES.includes(format.type)) {
        throw invalidRequest(`Invalid value for 'text.format.type': expected one of ${TEXT_FORMAT_TYPES.map((t) => `'${t}'`).join(", ")}.`, "text.format.type", "invalid_value");
      }
      checkTypes(format, { name: "string", description: "string", schema: "object", strict: "boolean" }, "text.format.");
      checkMaxLength(format.name, FIELD_CAPS.schemaNameChars, "text.format.name");
      if (format.type === "json_schema" && typeName(format.schema) !== "object") {
        throw invalidRequest("Missing required parameter: 'text.format.schema' (a JSON Schema object).", "text.format.schema", "missing_required_parameter");
      }
    }
  }
  (body.tools ?? []).forEach((tool, i) => {
    if (typeName(tool) !== "object") return; // the tools check names it
    checkTypes(tool, { type: "string", name: "string", description: "string", parameters: "object", strict: "boolean" }, `tools[${i}].`);
  });
  if (typeName(body.tool_choice) === "object") checkType(body.tool_choice, "name", "string", "tool_choice.name");
}
