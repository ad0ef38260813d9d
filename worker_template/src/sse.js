// Server-sent events from the binding, parsed line by line. Reads split events anywhere (inside
// a line, between "\r" and "\n", inside a multi-byte character), so the parser keeps the
// unfinished line in `partial` and the unfinished event's data lines in `dataLines`.
const DECODE_STREAMING = { stream: true };

export class SseParser {
  constructor() {
    this.decoder = new TextDecoder();
    this.partial = "";
    this.skipLineFeed = false;
    this.dataLines = [];
  }

  // Returns the data payloads of the events completed by this chunk of bytes.
  push(bytes) {
    return this.pushText(typeof bytes === "string" ? bytes : this.decoder.decode(bytes, DECODE_STREAMING));
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
