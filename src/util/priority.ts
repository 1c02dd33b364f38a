import os from "node:os";

/**
 * Lowers this thread's CPU priority (and that of children it starts) by `by` nice
 * levels; returns a function that puts it back. Used while a server's own work runs
 * beside ours (Redis's save child): the server's work comes first, ours fills the gaps.
 * Raising the priority again needs root (CAP_SYS_NICE); without it the lower priority
 * stays for the rest of the run, which only makes prs-backup a politer neighbour.
 */
export function lowerPriority(by: number): () => void {
  let before: number;
  try {
    before = os.getPriority();
    os.setPriority(Math.min(19, before + by));
  } catch {
    return () => undefined;
  }
  return () => {
    try {
      os.setPriority(before);
    } catch {
      // not allowed to raise it again: keep the lower priority
    }
  };
}
