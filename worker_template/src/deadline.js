// Nothing waits on Workers AI without a deadline: a model that never answers (Llama 3.3 70B
// with tools, a stalled Llama 4 Scout stream) must turn into a 504 or an error chunk, not a
// request that hangs until the client gives up.
class DeadlineExceeded extends Error {
  constructor(what, ms) {
    super(`${what} did not arrive within ${ms} ms`);
    this.what = what;
    this.ms = ms;
  }
}

function withDeadline(promise, ms, what) {
  let timer;
  const expiry = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded(what, ms)), ms);
  });
  return Promise.race([promise, expiry]).finally(() => clearTimeout(timer));
}

function timeoutError(err) {
  return new ApiError(504, `The model did not answer in time: ${err.message}. Retry, pick a faster model, or raise the gateway's timeouts.`, {
    code: "timeout",
  });
}
