import { toDisposable, type Disposable } from './disposable.js';

/**
 * Runs `work` every `ms` until disposed: never two runs at once, never
 * keeping the process alive, a failure handed to `onError`. The stores'
 * background work (heartbeats, sweeps, polls) is made of these.
 */
export function every(ms: number, work: () => Promise<void>, onError: (e: unknown) => void): Disposable {
  let running = false;
  let stopped = false;
  const timer = setInterval(() => {
    if (running || stopped) return;
    running = true;
    work()
      .catch(onError)
      .finally(() => (running = false));
  }, ms);
  timer.unref();
  return toDisposable(() => {
    stopped = true;
    clearInterval(timer);
  });
}
