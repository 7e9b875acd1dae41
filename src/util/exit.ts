// Exit codes of the nvmetd command, and the error for bad command-line usage.
export const EXIT_OK = 0;
/** A runtime failure: the target could not start or stop cleanly, or a forced exit. */
export const EXIT_FAILURE = 1;
/** Bad usage or a bad config: nothing was started. */
export const EXIT_USAGE = 2;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}
