import type { Session } from '../sessions/session.js';
import type { Connection, ConnectionEvents } from './connection.js';

/** Which connections speak for which session, across every transport of this process. */
export class ConnectionHub implements ConnectionEvents {
  private readonly all = new Set<Connection>();
  private readonly bySession = new Map<string, Set<Connection>>();

  get size(): number {
    return this.all.size;
  }

  add(connection: Connection): void {
    this.all.add(connection);
  }

  onBound(connection: Connection, session: Session): void {
    this.forget(connection);
    let set = this.bySession.get(session.id);
    if (!set) this.bySession.set(session.id, (set = new Set()));
    set.add(connection);
  }

  onClosed(connection: Connection): void {
    this.all.delete(connection);
    this.forget(connection);
  }

  /** Detaches every connection of `session` except `keep`: a resumed session has one voice. */
  detachOthers(session: Session, keep: Connection): void {
    for (const c of [...(this.bySession.get(session.id) ?? [])]) {
      if (c !== keep) {
        this.forget(c);
        c.detach();
      }
    }
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.all].map((c) => c.close().catch(() => undefined)));
  }

  private forget(connection: Connection): void {
    for (const [id, set] of this.bySession) {
      if (set.delete(connection) && set.size === 0) this.bySession.delete(id);
    }
  }
}
