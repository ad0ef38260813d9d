// Type and size checks for request fields, shared by every endpoint, so that a field of the
// wrong type is a 400 naming it (never a 500 from code that trusted it: `String({toString: 1})`
// throws) and nothing a client sends is echoed back or logged at a size it chose. The caps
// are OpenAI's where OpenAI documents one (docs/api.md lists them).
import { invalidRequest, typeName } from "./http.js";

export const FIELD_CAPS = {
  modelName: 256, // characters of a model name
  stopSequences: 4, // OpenAI's own limit
  stopSequenceChars: 256,
  metadataPairs: 16, // OpenAI: 16 pairs, keys of up to 64 characters, values of up to 512
  metadataKeyChars: 64,
  metadataValueChars: 512,
  userChars: 256, // the end-user id echoed in a Responses answer
  schemaNameChars: 64, // OpenAI: text.format.name / json_schema.name, at most 64 characters
  logChars: 256, // any client string written to the log line
};

// The JSON type of `value` as the checks name it: "integer" for whole numbers.
function fieldType(value) {
  const type = typeName(value);
  return type === "number" && Number.isInteger(value) ? "integer" : type;
}

function typeMatches(value, expected) {
  const type = fieldType(value);
  return type === expected || (expected === "number" && type === "integer");
}

const ARTICLE = { string: "a string", boolean: "a boolean", integer: "an integer", number: "a number", object: "an object", array: "an array" };

// Checks `object[field]` (absent and null pass) against one type or a list of types.
export function checkType(object, field, expected, where = field) {
  const value = object[field];
  if (value === undefined || value === null) return value;
  const allowed = Array.isArray(expected) ? expected : [expected];
  if (!allowed.some((t) => typeMatches(value, t))) {
    const names = allowed.map((t) => ARTICLE[t] ?? t).join(" or ");
    throw invalidRequest(`Invalid type for '${where}': expected ${names}, but got ${typeName(value)} instead.`, where, "invalid_type");
  }
  return value;
}

// Checks every field of `spec` ({field: type | [types]}) on `object`; `prefix` names the object.
export function checkTypes(object, spec, prefix = "") {
  for (const [field, expected] of Object.entries(spec)) checkType(object, field, expected, prefix + field);
}

export function checkMaxLength(value, max, where) {
  if (typeof value === "string" && value.length > max) {
    throw invalidRequest(`Invalid '${where}': string too long. Expected a string with maximum length ${max}, but got a string with length ${value.length} instead.`, where, "string_above_max_length");
  }
  return value;
}

// Stop sequences (chat `stop`, Messages `stop_sequences`): each one costs work per character of
// the answer, so their number and length are capped.
export function checkStopSequences(list, where) {
  if (list.length > FIELD_CAPS.stopSequences) {
    throw invalidRequest(`Invalid '${where}': at most ${FIELD_CAPS.stopSequences} stop sequences are allowed.`, where, "invalid_value");
  }
  list.forEach((s) => checkMaxLength(s, FIELD_CAPS.stopSequenceChars, where));
  return list;
}

// `metadata` as OpenAI takes it: at most 16 string pairs, keys of up to 64 characters, values of
// up to 512.
export function checkMetadata(value, where = "metadata") {
  if (value === undefined || value === null) return value;
  if (typeName(value) !== "object") {
    throw invalidRequest(`Invalid type for '${where}': expected an object of string pairs, but got ${typeName(value)} instead.`, where, "invalid_type");
  }
  const entries = Object.entries(value);
  if (entries.length > FIELD_CAPS.metadataPairs) {
    throw invalidRequest(`Invalid '${where}': at most ${FIELD_CAPS.metadataPairs} key-value pairs are allowed, but got ${entries.length}.`, where, "object_above_max_properties");
  }
  for (const [key, item] of entries) {
    if (key.length > FIELD_CAPS.metadataKeyChars) {
      throw invalidRequest(`Invalid '${where}': keys are at most ${FIELD_CAPS.metadataKeyChars} characters, but one has ${key.length}.`, where, "string_above_max_length");
    }
    const at = `${where}.${key}`;
    if (typeof item !== "string") {
      throw invalidRequest(`Invalid type for '${at}': expected a string, but got ${typeName(item)} instead.`, at, "invalid_type");
    }
    checkMaxLength(item, FIELD_CAPS.metadataValueChars, at);
  }
  return value;
}

// A client string for the log line: never longer than FIELD_CAPS.logChars.
export function forLog(value) {
  if (typeof value !== "string") return null;
  return value.length > FIELD_CAPS.logChars ? `${value.slice(0, FIELD_CAPS.logChars)}...` : value;
}
