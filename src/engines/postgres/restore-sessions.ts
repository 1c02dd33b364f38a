/**
 * A streamed restore through several `pg_restore` sessions at once, with no copy of the
 * dump on disk: definitions first (`--section=pre-data`, from the archive's header and
 * table of contents alone), then the table data shared among `sessions` processes reading
 * one stream each (see DumpSplitter), then indexes and constraints (`--section=post-data`).
 *
 * One `pg_restore` loads a table through one backend, which on the benchmark spends most of
 * the restore in one `COPY` on one core while the other core idles; `pg_restore -j` needs a
 * seekable file, and a spool of the dump cost more than it saved (docs/postgres.md).
 * A dump this program cannot split (compressed, another archive version, one that ends
 * before its table of contents is read) is left to the caller, for one `pg_restore`.
 */

import { Readable } from "node:stream";
import { asError, OperationError, RepoCorruptError } from "../../errors.js";
import type { ChunkStore } from "../../repo/chunk-store.js";
import { verifiedChunks } from "../../repo/entry-content.js";
import type { FileEntry } from "../../repo/snapshot.js";
import type { Logger } from "../../util/logger.js";
import { runCommand, type RunOptions, type RunResult } from "../../util/subprocess.js";
import { ArchiveUnusable } from "./custom-archive.js";
import { DumpReblocker } from "./dump-reblock.js";
import { DumpSplitter } from "./dump-split.js";

/** The part of the archive a `pg_restore` restores. */
export type Section = "pre-data" | "data" | "post-data";

export interface SessionsOptions {
  /** pg_restore's argv for a section, reading the archive on stdin. */
  argv: (section: Section) => string[];
  run: Omit<RunOptions, "input" | "signal">;
  signal?: AbortSignal;
  chunks: ChunkStore;
  entry: FileEntry;
  /** pg_restore processes loading the data (≥ 2 to split). */
  sessions: number;
  /** Throws when a pg_restore run failed. */
  check: (result: RunResult) => void;
  /** The message for damaged data, in context (see runFedFromEntry). */
  explain: (damage: string) => string;
  logger: Logger;
}

/** Input a session has not taken yet, above which the stream waits (per session). */
const FEED_BYTES = 4 * 1024 * 1024;
/** A session's input may grow to this while rows cannot move to another (one long row, large objects). */
const FEED_LIMIT = 4 * FEED_BYTES;

/**
 * Restores the dump through `o.sessions` pg_restore processes; false, with nothing run, when
 * the dump cannot be split (the caller then streams it into one pg_restore, reading again
 * the few pieces read here to find out).
 */
export async function restoreInSessions(o: SessionsOptions): Promise<boolean> {
  const source = verifiedChunks(o.chunks, o.entry, { owned: true })[Symbol.asyncIterator]();
  const read = async (): Promise<Buffer | undefined> => {
    const next = await source.next();
    return next.done ? undefined : next.value;
  };
  const reblocker = new DumpReblocker();
  const head: Buffer[] = [];
  let ended = false;
  try {
    while (!reblocker.header && !reblocker.passesThrough && !ended) {
      const piece = await read();
      if (piece) head.push(...reblocker.push(piece, true));
      else ended = true;
    }
  } catch (err) {
    if (err instanceof RepoCorruptError) throw new RepoCorruptError(o.explain(err.message), { cause: err });
    throw err;
  }
  const header = reblocker.header;
  if (!header || ended) {
    await source.return(undefined);
    return false;
  }

  const joined = Buffer.concat(head);
  // Its own copy: read three times, it need not keep the first data in memory till the end.
  const definitions = Buffer.from(joined.subarray(0, header.length));
  const started = Date.now();
  o.check(await runCommand(o.argv("pre-data"), { ...o.run, signal: o.signal, input: definitions }));
  const dataStarted = Date.now();

  const feeds = Array.from({ length: o.sessions }, () => new Feed());
  let turn = 0;
  const splitter = new DumpSplitter({
    intSize: header.intSize,
    ways: feeds.length,
    // The session with the least input waiting; on a tie, the next one in turn.
    choose: () => {
      let best = turn;
      let least = Infinity;
      for (let i = 1; i <= feeds.length; i++) {
        const way = (turn + i) % feeds.length;
        if (feeds[way]!.readableLength < least) {
          best = way;
          least = feeds[way]!.readableLength;
        }
      }
      turn = best;
      return best;
    },
    emit: (way, bytes) => feeds[way]!.push(bytes),
  });
  const results = await runFed(o.argv("data"), o, feeds, async (stopped) => {
    // Each session reads the whole table of contents, then its share of the data.
    for (const f of feeds) f.push(definitions);
    splitter.push(joined.subarray(header.length));
    for (;;) {
      const piece = await read();
      if (!piece) break;
      if (stopped()) return false;
      for (const part of reblocker.push(piece, true)) splitter.push(part);
      while (
        feeds.every((f) => f.readableLength >= FEED_BYTES) ||
        feeds[splitter.way]!.readableLength >= FEED_LIMIT
      ) {
        if (stopped()) return false;
        await Promise.race(feeds.map((f) => f.room()).concat(stopped.promise));
      }
    }
    for (const part of reblocker.end()) splitter.push(part);
    splitter.end();
    return true;
  });
  // In the order they ended: a session stopped because another failed is not the one to report.
  for (const result of results) o.check(result);
  const postStarted = Date.now();
  o.check(await runCommand(o.argv("post-data"), { ...o.run, signal: o.signal, input: definitions }));
  const seconds = (from: number, to = Date.now()) => ((to - from) / 1000).toFixed(1);
  o.logger.info(
    `pg_restore in ${feeds.length} sessions: definitions ${seconds(started, dataStarted)}s, data ${seconds(dataStarted, postStarted)}s (${shares(feeds, definitions.length)}), indexes and constraints ${seconds(postStarted)}s`,
  );
  return true;
}

/** A session's stdin, filled by the splitter; what it holds is what pg_restore has not read yet. */
class Feed extends Readable {
  #waiting: (() => void)[] = [];
  /** Bytes passed on so far. */
  bytes = 0;

  constructor() {
    super({ highWaterMark: FEED_BYTES });
  }

  override push(chunk: Buffer | null): boolean {
    if (chunk) this.bytes += chunk.length;
    return super.push(chunk);
  }

  override _read(): void {
    for (const wake of this.#waiting.splice(0)) wake();
  }

  /** Settles when the session wants more input. */
  room(): Promise<void> {
    return new Promise((resolve) => this.#waiting.push(resolve));
  }
}

/** Whether the feeding should stop (a session ended or failed first); `promise` settles then. */
type Stopped = (() => boolean) & { promise: Promise<void> };

/**
 * Runs one pg_restore per input stream, all at once, while `feed` fills them; the inputs end
 * when `feed` returns. When feeding fails, the sessions are stopped and its error thrown (a
 * damaged chunk, in context); when a session ends first, the others are stopped and the
 * results tell, in the order the sessions ended.
 */
async function runFed(
  argv: string[],
  o: SessionsOptions,
  inputs: Feed[],
  /** Fills the inputs; false when it stopped because a session ended first. */
  feed: (stopped: Stopped) => Promise<boolean>,
): Promise<RunResult[]> {
  const abort = new AbortController();
  const signal = o.signal ? AbortSignal.any([o.signal, abort.signal]) : abort.signal;
  let damage: unknown;
  for (const input of inputs) input.on("error", (err: unknown) => (damage ??= err));
  const runs = inputs.map((input) => runCommand(argv, { ...o.run, signal, input }));
  const inOrderEnded: Promise<RunResult>[] = [];
  for (const run of runs)
    void run.then(
      () => inOrderEnded.push(run),
      () => inOrderEnded.push(run),
    );
  let ended = false;
  const anyEnded = Promise.race(runs.map((r) => r.then(noop, noop))).then(() => {
    ended = true;
  });
  const stopped = Object.assign(() => ended, { promise: anyEnded });
  let complete = false;
  try {
    complete = await feed(stopped);
  } catch (err) {
    damage ??= err;
  }
  // The others' input would be cut short: they are stopped.
  if (!complete) abort.abort();
  for (const input of inputs) input.push(null);
  await Promise.allSettled(runs);
  const settled = await Promise.allSettled(inOrderEnded);
  if (damage instanceof RepoCorruptError) {
    throw new RepoCorruptError(o.explain(damage.message), { cause: damage });
  }
  if (damage instanceof ArchiveUnusable) {
    throw new OperationError(
      "E_PG_RESTORE_FAILED",
      o.explain(
        `the dump cannot be shared among pg_restore sessions (${damage.message}); set restoreSessions: 1`,
      ),
      { cause: damage },
    );
  }
  if (damage) throw asError(damage);
  return settled.map((s) => {
    if (s.status === "rejected") throw asError(s.reason);
    return s.value;
  });
}

function noop(): void {}

/** Each session's part of the data (the table of contents each read aside), e.g. `50% + 50%`. */
function shares(feeds: Feed[], definitions: number): string {
  const data = feeds.map((f) => f.bytes - definitions);
  const total = data.reduce((sum, n) => sum + n, 0) || 1;
  return data.map((n) => `${Math.round((100 * n) / total)}%`).join(" + ");
}
