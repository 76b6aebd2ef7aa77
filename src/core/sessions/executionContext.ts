import type { ClientInfo, TransportKind } from './session.js';
import { UNKNOWN_CLIENT } from './session.js';

/** What every tool call runs with (R-SES-8): never null, even without a session. */
export interface ExecutionContext {
  readonly sessionId: string;
  readonly root: string;
  readonly client: ClientInfo;
  readonly transport: TransportKind;
  /** True when the call came with no session: tools must not attribute work to anyone. */
  readonly isDefault: boolean;
}

export const DEFAULT_SESSION_ID = 'default';

export function defaultExecutionContext(root: string): ExecutionContext {
  return Object.freeze({ sessionId: DEFAULT_SESSION_ID, root, client: UNKNOWN_CLIENT, transport: 'none', isDefault: true });
}
