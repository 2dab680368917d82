// One tab per project run: a tab that starts or resumes a project's run holds the Web Lock
// `sail-studio.run.<projectId>` until the run ends, so a second tab of the same project neither
// starts a run beside it nor marks the live run as cut off. Where the browser offers no Web Locks
// (an old browser, an insecure origin) runs go unguarded, as before.

const lockName = (projectId: string) => `sail-studio.run.${projectId}`;

/** What withRunLock returns when another tab holds the project's run. */
export const HELD_ELSEWHERE = Symbol('held elsewhere');

const locks = (): LockManager | null => (typeof navigator !== 'undefined' && navigator.locks ? navigator.locks : null);

/** Runs `body` holding the project's run lock, or returns HELD_ELSEWHERE at once if another tab holds it. */
export async function withRunLock<T>(projectId: string, body: () => Promise<T>): Promise<T | typeof HELD_ELSEWHERE> {
  const manager = locks();
  if (!manager) return body();
  return manager.request(lockName(projectId), { ifAvailable: true }, async (lock) => (lock ? body() : HELD_ELSEWHERE));
}

/** Whether some tab (this one included) holds the project's run lock now. */
export async function runLockHeld(projectId: string): Promise<boolean> {
  const manager = locks();
  if (!manager) return false;
  const state = await manager.query();
  return (state.held ?? []).some((l) => l.name === lockName(projectId));
}

export const OTHER_TAB_TEXT = "This project's run is running in another tab of the studio; only one tab may run or resume it. Watch it there, or close that tab and Resume here.";
