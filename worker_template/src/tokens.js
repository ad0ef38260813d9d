// Token counts where Workers AI reports none (embeddings, Anthropic's count_tokens, a stream
// without usage). The estimate is UTF-8 bytes / 4, about what BPE tokenizers average on English
// text; every answer that carries one says so (x-flaregate-usage: estimated).
const TOKEN_ESTIMATE_ENCODER = new TextEncoder();

export function estimateTokens(text) {
  return Math.max(1, Math.ceil(TOKEN_ESTIMATE_ENCODER.encode(text).length / 4));
}
