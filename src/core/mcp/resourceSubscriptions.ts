import type { Disposable } from '../lifecycle/disposable.js';
import type { Session } from '../sessions/session.js';
import type { SharedStore } from '../store/sharedStore.js';

const CONTEXT_SCHEME = 'context://';

/**
 * What agents subscribed to (R-MCP-3). Subscriptions belong to the session,
 * so they follow it through a resume; while one to `context://<ns>` lives,
 * the store reads others' writes to that namespace as they land
 * (SharedStore.watchChanges), and stops once the last one goes.
 */
export class ResourceSubscriptions implements Disposable {
  private readonly watches = new Map<Session, Map<string, Disposable>>();

  constructor(private readonly store: () => SharedStore) {}

  subscribe(session: Session, uri: string): void {
    session.subscriptions.add(uri);
    if (!uri.startsWith(CONTEXT_SCHEME)) return;
    let mine = this.watches.get(session);
    if (mine?.has(uri)) return;
    let watch: Disposable;
    try {
      watch = this.store().watchChanges(uri.slice(CONTEXT_SCHEME.length));
    } catch {
      // Not a namespace anyone can write: nothing will ever change there.
      return;
    }
    if (!mine) {
      mine = new Map();
      this.watches.set(session, mine);
      session.onDidEnd(() => this.forget(session));
    }
    mine.set(uri, watch);
  }

  unsubscribe(session: Session, uri: string): void {
    session.subscriptions.delete(uri);
    const mine = this.watches.get(session);
    void mine?.get(uri)?.dispose();
    mine?.delete(uri);
  }

  dispose(): void {
    for (const session of [...this.watches.keys()]) this.forget(session);
  }

  private forget(session: Session): void {
    for (const watch of this.watches.get(session)?.values() ?? []) void watch.dispose();
    this.watches.delete(session);
  }
}
