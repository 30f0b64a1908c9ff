/** Drives `submit` either as fast as a window of in-flight jobs allows, or at a fixed rate; records latency. */
export interface LoadTarget {
  /** Submits job `i`; resolves when the submit was accepted (not when the job finished). */
  submit(i: number): Promise<void>;
  /** Registers the completion callback; called once per finished job with its index. */
  onDone(cb: (i: number) => void): void;
}

/** Closed loop: keep `window` jobs in flight until `n` finished. Returns jobs/s and latencies (ms). */
export async function closedLoop(target: LoadTarget, n: number, window: number, offset = 0) {
  const started = new Float64Array(n);
  const lat: number[] = [];
  let done = 0;
  let sent = 0;
  let wake: (() => void) | undefined;
  target.onDone((i) => {
    const k = i - offset;
    if (k < 0 || k >= n) return;
    lat.push(performance.now() - started[k]!);
    done++;
    wake?.();
  });
  const t0 = performance.now();
  let lastDone = 0;
  let lastProgress = performance.now();
  // Stops when everything finished, or when nothing finished for 5 s (a completion notice was lost): reported as lost.
  while (done < n && performance.now() - lastProgress < 5000) {
    if (done !== lastDone) {
      lastDone = done;
      lastProgress = performance.now();
    }
    while (sent < n && sent - done < window) {
      started[sent] = performance.now();
      void target.submit(offset + sent);
      sent++;
    }
    await new Promise<void>((r) => {
      wake = r;
      setTimeout(r, 50);
    });
  }
  const elapsed = (done < n ? lastProgress : performance.now()) - t0;
  return { jobsPerSec: done / (elapsed / 1000), latencies: lat, lost: n - done };
}

/** Open loop at `rate` jobs/s for `n` jobs; returns latencies (ms). */
export async function openLoop(target: LoadTarget, n: number, rate: number, offset: number) {
  const started = new Float64Array(n);
  const lat: number[] = [];
  let done = 0;
  target.onDone((i) => {
    const k = i - offset;
    if (k < 0 || k >= n) return;
    lat.push(performance.now() - started[k]!);
    done++;
  });
  const t0 = performance.now();
  for (let k = 0; k < n; k++) {
    const due = t0 + (k * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    started[k] = performance.now();
    void target.submit(offset + k);
  }
  const end = performance.now() + 30_000;
  while (done < n && performance.now() < end) await new Promise((r) => setTimeout(r, 20));
  return { latencies: lat, lost: n - done };
}

/** One job at a time, `n` jobs, after `warmup` unmeasured ones; returns each job's latency (ms). */
export async function sequential(target: LoadTarget, n: number, warmup = 0, timeoutMs = 10_000) {
  let finish: ((i: number) => void) | undefined;
  target.onDone((i) => finish?.(i));
  const lat: number[] = [];
  for (let k = 0; k < warmup + n; k++) {
    const finished = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`job ${k} did not finish within ${timeoutMs} ms`)), timeoutMs);
      finish = (i) => {
        if (i !== k) return;
        clearTimeout(timer);
        resolve();
      };
    });
    const t0 = performance.now();
    await target.submit(k);
    await finished;
    if (k >= warmup) lat.push(performance.now() - t0);
  }
  return lat;
}

/**
 * Closed loop for `ms` milliseconds (`window` jobs in flight), then waits up to 10 s for the last ones; returns jobs
 * sent and done and the seconds it all took (drain included).
 */
export async function sustain(target: LoadTarget, ms: number, window: number) {
  let done = 0;
  let sent = 0;
  let wake: (() => void) | undefined;
  target.onDone(() => {
    done++;
    wake?.();
  });
  const t0 = performance.now();
  const end = t0 + ms;
  while (performance.now() < end) {
    while (sent - done < window) void target.submit(sent++);
    await new Promise<void>((r) => {
      wake = r;
      setTimeout(r, 50);
    });
  }
  const drainEnd = performance.now() + 10_000;
  while (done < sent && performance.now() < drainEnd) await new Promise((r) => setTimeout(r, 20));
  return { sent, done, seconds: (performance.now() - t0) / 1000 };
}
