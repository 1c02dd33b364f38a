import { randomBytes } from "node:crypto";
import type { Backend } from "./backend.js";

/** What a job did. */
export type JobKind = "backup" | "verify" | "drill" | "prune" | "restore";
export type JobOutcome = "success" | "partial" | "failure";

/** One job run, as status, the daemon, metrics and alerts read it. */
export interface RunRecord {
  id: string;
  kind: JobKind;
  /** The target, for per-target jobs (absent for repository-wide ones such as prune). */
  target?: string;
  /** ISO 8601 UTC. */
  startTime: string;
  endTime: string;
  outcome: JobOutcome;
  /** The snapshot made or checked, when there is one. */
  snapshot?: string;
  /** Source bytes of the snapshot made, bytes checked, or bytes reclaimed. */
  bytes?: number;
  /** Bytes added to the repository (backups). */
  storedBytes?: number;
  error?: { code: string; message: string };
  details?: Record<string, unknown>;
}

const PREFIX = "runs";

/**
 * The run history, kept in the repository (so it travels with the backups and every
 * host sees the same): one small object per run under `runs/<YYYY-MM>/`, written
 * atomically, never rewritten. Reading the recent history lists a few months.
 */
export class RunHistory {
  readonly #backend: Backend;

  constructor(backend: Backend) {
    this.#backend = backend;
  }

  /** Stores a run record durably; returns it with its id. */
  async record(run: Omit<RunRecord, "id">): Promise<RunRecord> {
    const record: RunRecord = { id: randomBytes(6).toString("hex"), ...run };
    const stamp = record.startTime.replace(/[-:.]/g, "");
    await this.#backend.put(
      `${PREFIX}/${record.startTime.slice(0, 7)}/${stamp}-${record.id}.json`,
      JSON.stringify(record),
    );
    return record;
  }

  /** Runs that started at or after `since` (default: 90 days ago), oldest first. */
  async list(options: { since?: Date; target?: string; kind?: JobKind } = {}): Promise<RunRecord[]> {
    const since = options.since ?? new Date(Date.now() - 90 * 86_400_000);
    const months = await this.#monthsSince(since);
    const records: RunRecord[] = [];
    for (const month of months) {
      const keys: string[] = [];
      for await (const key of this.#backend.listKeys(`${PREFIX}/${month}/`)) keys.push(key);
      const loaded = await Promise.all(keys.map((key) => this.#read(key)));
      for (const r of loaded) {
        if (!r || Date.parse(r.startTime) < since.getTime()) continue;
        if (options.target !== undefined && r.target !== options.target) continue;
        if (options.kind !== undefined && r.kind !== options.kind) continue;
        records.push(r);
      }
    }
    return records.sort((a, b) => a.startTime.localeCompare(b.startTime));
  }

  /** Deletes records that started before `before` (prune keeps the history bounded). */
  async removeOlderThan(before: Date): Promise<number> {
    let removed = 0;
    for await (const key of this.#backend.listKeys(`${PREFIX}/`)) {
      const month = key.split("/")[1] ?? "";
      if (month >= before.toISOString().slice(0, 7)) continue;
      await this.#backend.delete(key);
      removed += 1;
    }
    return removed;
  }

  async #monthsSince(since: Date): Promise<string[]> {
    const first = since.toISOString().slice(0, 7);
    const months = new Set<string>();
    for await (const key of this.#backend.listKeys(`${PREFIX}/`)) {
      const month = key.split("/")[1];
      if (month && month >= first) months.add(month);
    }
    return [...months].sort();
  }

  async #read(key: string): Promise<RunRecord | undefined> {
    try {
      return JSON.parse((await this.#backend.get(key)).toString("utf8")) as RunRecord;
    } catch {
      return undefined; // a record deleted meanwhile, or not ours
    }
  }
}
