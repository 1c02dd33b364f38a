import type { Readable } from "node:stream";
import { RepoCorruptError } from "../errors.js";
import type { ChunkStore } from "../repo/chunk-store.js";
import { entryContent } from "../repo/entry-content.js";
import type { FileEntry } from "../repo/snapshot.js";
import { runCommand, type RunOptions, type RunResult } from "../util/subprocess.js";

/**
 * Runs a command (tar, pg_restore …) that reads a file entry's content on stdin. A damaged
 * chunk ends the stream before its bytes reach the command, which then fails on a short
 * input: the damage is what gets reported — as a RepoCorruptError whose message `explain`
 * puts in context — not the command's complaint. Other read errors are rethrown as they are.
 */
export async function runFedFromEntry(
  argv: readonly string[],
  options: Omit<RunOptions, "input">,
  source: { chunks: ChunkStore; entry: FileEntry },
  explain: (damage: string) => string,
  /**
   * Reshapes the content on its way (the bytes the command reads); errors of `input` reach
   * it, and it may change the buffers `input` yields.
   */
  reshape?: (input: Readable) => Readable,
): Promise<RunResult> {
  const content = entryContent(source.chunks, source.entry, { owned: reshape !== undefined });
  let damage: Error | undefined;
  content.on("error", (err: Error) => (damage ??= err));
  const input = reshape ? reshape(content) : content;
  if (input !== content) input.on("error", (err: Error) => (damage ??= err));
  const result = await runCommand(argv, { ...options, input }).catch((err: unknown) => {
    if (damage) return undefined;
    throw err;
  });
  if (damage instanceof RepoCorruptError) {
    throw new RepoCorruptError(explain(damage.message), { cause: damage });
  }
  if (damage) throw damage;
  return result!;
}
