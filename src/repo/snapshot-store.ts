import { randomBytes } from "node:crypto";
import { RepoCorruptError, UsageError, UserError } from "../errors.js";
import { ObjectNotFoundError, type Backend } from "./backend.js";
import type { ChunkStore } from "./chunk-store.js";
import type { Entry, FileEntry, SnapshotManifest } from "./snapshot.js";

const ID_PATTERN = /^[0-9a-f]{16}$/;

/** A new random snapshot id: 16 hex digits (64 bits). Unique prefixes of 4+ digits are accepted as ids. */
export function newSnapshotId(): string {
  return randomBytes(8).toString("hex");
}

function manifestKey(id: string): string {
  return `snapshots/${id}.json`;
}

/** An entry of a stored snapshot and the line of the entry list it was read from (no newline). */
export interface StoredEntry {
  entry: Entry;
  line: string;
}

/**
 * Snapshot manifests, one object each under `snapshots/`. A snapshot exists once its
 * manifest is written (atomically, last); nothing else makes it visible.
 */
export class SnapshotStore {
  readonly #backend: Backend;
  readonly #chunks: ChunkStore;

  constructor(backend: Backend, chunks: ChunkStore) {
    this.#backend = backend;
    this.#chunks = chunks;
  }

  /** Writes a manifest durably. Every chunk it names must already be durable. */
  async write(manifest: SnapshotManifest): Promise<void> {
    await this.#backend.put(manifestKey(manifest.id), `${JSON.stringify(manifest)}\n`);
    await this.#backend.flush();
  }

  /** Reads a manifest by full id. */
  async read(id: string): Promise<SnapshotManifest> {
    let raw: Buffer;
    try {
      raw = await this.#backend.get(manifestKey(id));
    } catch (err) {
      if (err instanceof ObjectNotFoundError)
        throw new UserError("E_SNAPSHOT_NOT_FOUND", `no snapshot ${id}`);
      throw err;
    }
    try {
      return JSON.parse(raw.toString("utf8")) as SnapshotManifest;
    } catch (err) {
      throw new RepoCorruptError(`snapshot ${id}: manifest is not valid JSON`, { cause: err });
    }
  }

  /** Every snapshot id in the repository. */
  async ids(): Promise<string[]> {
    const ids: string[] = [];
    for await (const key of this.#backend.listKeys("snapshots/")) {
      const name = key.slice("snapshots/".length);
      if (name.endsWith(".json") && ID_PATTERN.test(name.slice(0, -5))) ids.push(name.slice(0, -5));
    }
    return ids;
  }

  /**
   * All manifests (optionally of one target), newest first by start time. A manifest
   * that cannot be read is passed to `onDamaged` when given (verify reports it);
   * otherwise the error is thrown.
   */
  async list(target?: string, onDamaged?: (id: string, err: unknown) => void): Promise<SnapshotManifest[]> {
    const read = async (id: string): Promise<SnapshotManifest[]> => {
      try {
        return [await this.read(id)];
      } catch (err) {
        if (!onDamaged) throw err;
        onDamaged(id, err);
        return [];
      }
    };
    const manifests = (await Promise.all((await this.ids()).map(read))).flat();
    return manifests
      .filter((m) => target === undefined || m.target === target)
      .sort((a, b) => b.startTime.localeCompare(a.startTime) || b.id.localeCompare(a.id));
  }

  /**
   * Finds a snapshot by full id, unique prefix (4+ hex digits) or `latest` (the newest
   * complete snapshot of `target`). Errors name what was looked for.
   */
  async resolve(ref: string, target?: string): Promise<SnapshotManifest> {
    if (ref === "latest") {
      const newest = (await this.list(target)).find((m) => m.status === "complete");
      if (!newest) {
        throw new UserError(
          "E_SNAPSHOT_NOT_FOUND",
          `no complete snapshot of target "${target ?? "any"}" yet`,
        );
      }
      return newest;
    }
    if (!/^[0-9a-f]{4,16}$/.test(ref)) {
      throw new UsageError(`"${ref}" is not a snapshot id (4 to 16 hex digits, or "latest")`);
    }
    const matches = (await this.ids()).filter((id) => id.startsWith(ref));
    if (matches.length === 0) throw new UserError("E_SNAPSHOT_NOT_FOUND", `no snapshot ${ref}`);
    if (matches.length > 1) {
      throw new UserError("E_SNAPSHOT_AMBIGUOUS", `snapshot id ${ref} is ambiguous: ${matches.join(", ")}`);
    }
    const manifest = await this.read(matches[0]!);
    if (target !== undefined && manifest.target !== target) {
      throw new UserError(
        "E_SNAPSHOT_WRONG_TARGET",
        `snapshot ${manifest.id} belongs to target "${manifest.target}", not "${target}"`,
      );
    }
    return manifest;
  }

  /** Deletes a manifest (the snapshot's data goes at the next garbage collection). */
  async remove(id: string): Promise<void> {
    await this.#backend.delete(manifestKey(id));
    await this.#backend.flush();
  }

  /** The file entries among `paths` of a snapshot (one pass over its entries); absent paths are missing from the map. */
  async fileEntries(manifest: SnapshotManifest, paths: readonly string[]): Promise<Map<string, FileEntry>> {
    const wanted = new Set(paths);
    const found = new Map<string, FileEntry>();
    for await (const entry of this.entries(manifest)) {
      if (entry.type === "file" && wanted.has(entry.path)) found.set(entry.path, entry);
      if (found.size === wanted.size) break;
    }
    return found;
  }

  /** Streams a snapshot's entries in stored order (sorted by path), each chunk verified. */
  async *entries(manifest: SnapshotManifest): AsyncGenerator<Entry> {
    for await (const stored of this.storedEntries(manifest)) yield stored.entry;
  }

  /**
   * The entries with the JSON line each was read from: a re-snapshot writes an unchanged
   * file's line again as it was instead of serializing the same entry anew.
   */
  async *storedEntries(manifest: SnapshotManifest): AsyncGenerator<StoredEntry> {
    for await (const batch of this.storedEntryBatches(manifest)) yield* batch;
  }

  /** storedEntries a chunk's worth at a time: a re-snapshot looks entries up without a promise each. */
  async *storedEntryBatches(manifest: SnapshotManifest): AsyncGenerator<StoredEntry[]> {
    // Lines are cut from the bytes and each decoded alone: decoding a chunk whole and
    // splitting the text made three copies of it (a third of an unchanged re-snapshot's
    // allocations). A newline byte never occurs inside a UTF-8 sequence, so a character
    // split between two chunks is always inside a line carried over.
    let rest: Buffer | undefined;
    let count = 0;
    for (const id of manifest.entries.chunks) {
      const chunk = await this.#chunks.get(id);
      const bytes = rest ? Buffer.concat([rest, chunk]) : chunk;
      const batch: StoredEntry[] = [];
      let start = 0;
      for (let end = bytes.indexOf(10); end >= 0; end = bytes.indexOf(10, start)) {
        if (end > start) {
          const line = bytes.toString("utf8", start, end);
          batch.push({ entry: JSON.parse(line) as Entry, line });
        }
        start = end + 1;
      }
      rest = start < bytes.length ? bytes.subarray(start) : undefined;
      count += batch.length;
      if (batch.length > 0) yield batch;
    }
    if (rest) {
      count += 1;
      const line = rest.toString("utf8");
      yield [{ entry: JSON.parse(line) as Entry, line }];
    }
    if (count !== manifest.entries.count) {
      throw new RepoCorruptError(
        `snapshot ${manifest.id}: entry list has ${count} entries, manifest says ${manifest.entries.count}`,
      );
    }
  }
}
