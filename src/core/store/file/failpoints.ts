/**
 * Named places in the store's rare paths where a crash test's process stops
 * itself (SIGSTOP), as a stop that lands there once in thousands of random
 * ones would: the test then does what a lock's taker does meanwhile and lets
 * it go on (SIGCONT). Off unless SESSION_COORDINATOR_FAILPOINT names the
 * place (a test's child sets it); each armed place stops the process once.
 */
export type Failpoint =
  /** A first writer found no CURRENT and is about to create generation 1. */
  | 'shard.init.create'
  /** A rotator found CURRENT where it expected and is about to create the next generation's files. */
  | 'shard.rotate.create'
  /** A rotator made the next generation's files and is about to commit them (CURRENT). */
  | 'shard.rotate.commit'
  /** A rotator passed its last check and is about to rename CURRENT's replacement into place. */
  | 'shard.rotate.rename'
  /** A commit appended its lines and has not yet looked whether anyone else appended (shardIo.ts's kernel stops there). */
  | 'shardIo.commit.write'
  /** The file store's worker thread exits before a commit's append (worker mode only: elsewhere the process exits). */
  | 'shardIo.worker.exit';

const armed = new Set((process.env.SESSION_COORDINATOR_FAILPOINT ?? '').split(',').filter(Boolean));

export function failpoint(name: Failpoint): void {
  if (armed.size === 0 || !armed.delete(name)) return;
  process.kill(process.pid, 'SIGSTOP');
}
