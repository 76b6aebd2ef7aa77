import * as os from 'node:os';
import * as path from 'node:path';
import { errorMessage, isCoordinatorError } from '../../core/errors.js';
import { Mailbox } from '../../core/messages/mailbox.js';
import { personActor } from '../../core/messages/messageRules.js';
import { Metrics } from '../../core/metrics/metrics.js';
import { EXIT, UsageError } from '../usage.js';
import { openWorkspaceStore } from './workspaceStore.js';

/**
 * `session-coordinator message <to> <text>`: a person tells an agent (or
 * all of them) something from a terminal (R-AGT-6). Written to the project's
 * store directly, so it works with a window open or none; the agent hears it
 * on its next tool call (hooks) or through its inbox subscription.
 */
export async function message(
  to: string | undefined,
  words: readonly string[],
  options: { workspace: string; store?: string; subject?: string; thread?: string },
): Promise<number> {
  if (to === undefined || words.length === 0)
    throw new UsageError('message needs a recipient and the text: session-coordinator message <agent|session|all> <text...>');
  const workspace = path.resolve(options.workspace);
  const metrics = new Metrics();
  const store = await openWorkspaceStore(workspace, options.store, 'message command', metrics);
  try {
    const mailbox = new Mailbox({ store: () => store, metrics, localActors: () => [] });
    const from = personActor(`${os.userInfo().username} (terminal)`, store.participantId);
    const result = await mailbox.send(from, to, {
      subject: options.subject ?? '',
      body: words.join(' '),
      ...(options.thread ? { thread: options.thread } : {}),
    });
    for (const s of result.sent) process.stdout.write(`sent ${s.id} to ${s.to} (thread ${result.thread})\n`);
    for (const r of result.refused) process.stderr.write(`not sent to ${r.to}: ${r.reason}\n`);
    return result.sent.length > 0 ? EXIT.ok : EXIT.failure;
  } catch (e) {
    process.stderr.write(`session-coordinator message: ${isCoordinatorError(e) ? `${e.code}: ${e.message}` : errorMessage(e)}\n`);
    return EXIT.failure;
  } finally {
    await store.dispose();
  }
}
