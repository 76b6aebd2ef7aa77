import { toDisposable, type Disposable } from '../lifecycle/disposable.js';
import { validateNamespace } from './rules/limits.js';

/** watchChanges() with no namespace: a name no namespace can have. */
export const ALL_NAMESPACES = '*';

/**
 * Which namespaces' changes a participant wants promptly (SharedStore.watchChanges):
 * the `_` ones (claims, inboxes, control) always, a context namespace while
 * something here watches it. A backend listens only for those, since every
 * change it hears costs CPU (issue 11); `first` and `last` start and stop
 * listening for a context namespace (ALL_NAMESPACES: every one).
 */
export class ChangeInterest {
  private readonly counts = new Map<string, number>();

  constructor(private readonly on: { first: (name: string) => void; last: (name: string) => void }) {}

  watch(namespace?: string): Disposable {
    const name = namespace === undefined ? ALL_NAMESPACES : validateNamespace(namespace);
    const count = this.counts.get(name) ?? 0;
    this.counts.set(name, count + 1);
    // The `_` namespaces are listened to from the start: a watch of one changes nothing.
    const always = name.startsWith('_');
    if (count === 0 && !always) this.on.first(name);
    let disposed = false;
    return toDisposable(() => {
      if (disposed) return;
      disposed = true;
      const left = (this.counts.get(name) ?? 1) - 1;
      if (left > 0) return void this.counts.set(name, left);
      this.counts.delete(name);
      if (!always) this.on.last(name);
    });
  }

  wants(namespace: string): boolean {
    return namespace.startsWith('_') || this.counts.has(ALL_NAMESPACES) || this.counts.has(namespace);
  }
}
