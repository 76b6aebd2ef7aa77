/**
 * Domain errors: each has a stable string `code` that scripts, tests and the
 * wire layer can switch on, and the context a user needs to act on it.
 */
export type ErrorCode =
  | 'SessionLimitReached'
  | 'SessionNotFound'
  | 'SessionClosed'
  | 'IllegalStateTransition'
  | 'ResumeHandleInvalid'
  | 'RootNotFound'
  | 'RootNotDirectory'
  | 'RootOutsideWorkspace'
  | 'RootResolutionTimeout'
  | 'NoWorkspaceRoot'
  | 'TooManyRequests'
  | 'RequestTimeout'
  | 'DuplicateRequestId'
  | 'VersionConflict'
  | 'ClaimConflict'
  | 'ClaimNotHeld'
  | 'StaleFencingToken'
  | 'UnsafeStorePath'
  | 'StoreUnavailable'
  | 'LockTimeout'
  | 'ValueTooLarge'
  | 'QuotaExceeded'
  | 'InvalidArgument'
  | 'UnknownRecipient'
  | 'RateLimited'
  | 'InvalidConfigFile'
  | 'WriteFailed';

export class CoordinatorError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = code;
  }
}

export function isCoordinatorError(e: unknown, code?: ErrorCode): e is CoordinatorError {
  return e instanceof CoordinatorError && (code === undefined || e.code === code);
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Ends an exhaustive switch: the compiler proves it unreachable. */
export function assertNever(value: never, what = 'value'): never {
  throw new Error(`Unexpected ${what}: ${JSON.stringify(value)}`);
}
