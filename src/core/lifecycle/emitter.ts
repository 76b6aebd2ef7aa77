import { toDisposable, type Disposable } from './disposable.js';

/**
 * A tiny event source for the core, shaped like vscode.Event so the host can
 * pass it straight on. With `onListenerError`, a listener that throws is
 * reported there and the others still hear the event (a store's listeners
 * belong to other parts of the host); without it, the throw goes to the firer.
 */
export class Emitter<T> {
  private readonly listeners = new Set<(value: T) => void>();

  constructor(private readonly onListenerError?: (e: unknown) => void) {}

  readonly event = (listener: (value: T) => void): Disposable => {
    this.listeners.add(listener);
    return toDisposable(() => void this.listeners.delete(listener));
  };

  fire(value: T): void {
    for (const l of [...this.listeners]) {
      if (!this.onListenerError) l(value);
      else {
        try {
          l(value);
        } catch (e) {
          this.onListenerError(e);
        }
      }
    }
  }

  dispose(): void {
    this.listeners.clear();
  }
}
