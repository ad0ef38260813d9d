// Server-sent events from the binding, parsed line by line. Reads split events anywhere (inside
// a line, between "\r" and "\n", inside a multi-byte character), so the parser keeps the
// unfinished line in `partial` and the unfinished event's data lines in `dataLines`.
const DECODE_STREAMING = { stream: true };

export class SseParser {
  constructor() {
    // The byte order mark is stripped here, once, at the start of the stream (see decode).
    this.decoder = new TextDecoder("utf-8", { ignoreBOM: true });
    this.decodedAny = false;
    this.midCharacter = false; // the last chunk ended in a non-ASCII byte: maybe inside a character
    this.partial = "";
    this.skipLineFeed = false;
    this.dataLines = [];
  }

  // Returns the data payloads of the events completed by this chunk of bytes.
  push(bytes) {
    return this.pushText(typeof bytes === "string" ? bytes : this.decode(bytes));
  }

  // A chunk that ends in an ASCII byte (an SSE chunk ends in "\n"), after one that did too, holds
  // only whole characters: it is decoded in one go, which V8 does several times faster than a
  // streaming decode (scripts/bench_stream_cpu.mjs). Any other chunk is decoded streaming.
  decode(bytes) {
    if (bytes.length === 0) return "";
    const last = bytes[bytes.length - 1];
    let text = !this.midCharacter && last < 0x80 ? this.decoder.decode(bytes) : this.decoder.decode(bytes, DECODE_STREAMING);
    this.midCharacter = last >= 0x80;
    if (!this.decodedAny && text) {
      this.decodedAny = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    return text;
  }

  pushText(text) {
    const events = [];
    // A read that ends in "\r" may have cut a "\r\n" in two: the "\n" that starts the next
    // read belongs to the line already ended, not to a blank line that would end the event.
    if (this.skipLineFeed && text.startsWith("\n")) text = text.slice(1);
    this.skipLineFeed = text.endsWith("\r");
    const buf = this.partial ? this.partial + text : text;
    if (buf.includes("\r")) {
      const lines = buf.split(/\r\n|\r|\n/);
      this.partial = lines.pop();
      for (const line of lines) this.line(line, events);
      return events;
    }
    // The common case, "\n" alone: lines are cut out where they lie, no split array per read.
    let start = 0;
    for (let nl = buf.indexOf("\n"); nl !== -1; nl = buf.indexOf("\n", start)) {
      this.line(buf.slice(start, nl), events);
      start = nl + 1;
    }
    this.partial = start ? buf.slice(start) : buf;
    return events;
  }

  end() {
    const events = [];
    const tail = this.partial + this.decoder.decode();
    this.partial = "";
    if (tail) this.line(tail, events);
    this.dispatch(events);
    return events;
  }

  line(line, events) {
    if (line === "") return this.dispatch(events);
    let value;
    if (line.startsWith("data: ")) value = line.slice(6);
    else {
      if (line.startsWith(":")) return; // comment
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      if (field !== "data") return; // event:, id:, retry: carry nothing we use
      value = colon === -1 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
    }
    // Some upstreams omit the blank line between events. A data line that follows a complete
    // JSON payload starts a new event instead of being glued to it.
    if (this.dataLines.length && isCompletePayload(this.dataLines.join("\n"))) this.dispatch(events);
    this.dataLines.push(value);
  }

  dispatch(events) {
    const lines = this.dataLines;
    if (lines.length === 0) return;
    events.push(lines.length === 1 ? lines[0] : lines.join("\n"));
    this.dataLines = [];
  }
}

function isCompletePayload(data) {
  if (data === "[DONE]") return true;
  try {
    JSON.parse(data);
    return true;
  } catch {
    return false;
  }
}

export const SSE_ENCODER = new TextEncoder();

// A stream's chunks are encoded into views of a shared 16 KB buffer, not each into a typed array
// of its own: one of more than 64 bytes gets an off-heap backing store, and allocating and freeing
// one per streamed token cost more than encoding the token (scripts/bench_stream_cpu.mjs). A
// region handed out is never written again (a full buffer is replaced, not reused), and workerd
// does not detach the chunks of a value stream it writes out, so every view keeps its bytes.
const CHUNK_POOL_BYTES = 16 * 1024;
let chunkPool = new Uint8Array(CHUNK_POOL_BYTES);
let chunkPoolAt = 0;

export function encodeChunk(text) {
  const room = text.length * 3; // a UTF-16 code unit is at most 3 bytes of UTF-8
  if (room > CHUNK_POOL_BYTES / 4) return SSE_ENCODER.encode(text);
  if (chunkPoolAt + room > CHUNK_POOL_BYTES) {
    chunkPool = new Uint8Array(CHUNK_POOL_BYTES);
    chunkPoolAt = 0;
  }
  const start = chunkPoolAt;
  chunkPoolAt += SSE_ENCODER.encodeInto(text, chunkPool.subarray(start, start + room)).written;
  return chunkPool.subarray(start, chunkPoolAt);
}

// How a streamed answer ended, told once: {} when it finished (an error event included),
// {stream_error: "client_cancelled" | "stream_failed"} otherwise. The router writes a streamed
// request's log line then. The event streams the encoders build report it themselves (the router
// watches any other body through a pass-through stream): one stream hop less per chunk.
export class StreamEnd {
  constructor() {
    this.outcome = null;
    this.listener = null;
  }

  listen(listener) {
    if (this.outcome) listener(this.outcome);
    else this.listener = listener;
  }

  report(outcome = {}) {
    if (this.outcome) return;
    this.outcome = outcome;
    const listener = this.listener;
    this.listener = null;
    listener?.(outcome);
  }
}

export function sseData(payload) {
  return SSE_ENCODER.encode(`data: ${typeof payload === "string" ? payload : JSON.stringify(payload)}\n\n`);
}

export const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};
