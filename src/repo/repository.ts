import { randomBytes } from "node:crypto";
import path from "node:path";
import { RepoCorruptError, UserError } from "../errors.js";
import { VERSION } from "../version.js";
import { ObjectNotFoundError, type Backend } from "./backend.js";
import { SavedTable } from "./catalog-table.js";
import { ChunkStore } from "./chunk-store.js";
import { DEFAULT_CHUNKER_PARAMS, type ChunkerParams } from "./chunker.js";
import { RepoLock, type LockOptions } from "./lock.js";
import { SnapshotStore } from "./snapshot-store.js";
import { RunHistory } from "./run-history.js";

/**
 * Current on-disk format version; readers refuse newer ones. 1: one object per chunk;
 * 2: small chunks in packs (format 1 objects stay readable).
 */
export const FORMAT_VERSION = 2;
const HEADER_KEY = "repository.json";

/** Contents of `repository.json`, the repository's header. */
export interface RepositoryHeader {
  format: "prs-backup";
  version: number;
  id: string;
  created: string;
  createdBy: string;
  /** Default chunking; targets may override it (chunk ids do not depend on it). */
  chunker: ChunkerParams;
  compression: { algorithm: "zstd"; level: number };
}

export interface OpenOptions {
  compressionLevel?: number;
  /** Where this machine keeps its cache of the repository (a folder per repository id); none when undefined. */
  cacheDirectory?: string;
}

/** An opened repository: its header, chunk store, snapshots and locks. */
export class Repository {
  readonly backend: Backend;
  #header: RepositoryHeader;
  readonly chunks: ChunkStore;
  readonly snapshots: SnapshotStore;
  readonly history: RunHistory;

  private constructor(backend: Backend, header: RepositoryHeader, options: OpenOptions) {
    this.backend = backend;
    this.#header = header;
    this.chunks = new ChunkStore(backend, {
      compressionLevel: options.compressionLevel ?? header.compression.level,
      // The id names a folder: only as the 32 hex digits `init` makes.
      ...(options.cacheDirectory !== undefined && /^[0-9a-f]{32}$/.test(header.id)
        ? { savedTable: new SavedTable(path.join(options.cacheDirectory, header.id, "catalog-table")) }
        : {}),
    });
    this.snapshots = new SnapshotStore(backend, this.chunks);
    this.history = new RunHistory(backend);
  }

  /** Creates the repository unless it exists; idempotent. */
  static async init(
    backend: Backend,
    options: OpenOptions = {},
  ): Promise<{ repo: Repository; created: boolean }> {
    const header: RepositoryHeader = {
      format: "prs-backup",
      version: FORMAT_VERSION,
      id: randomBytes(16).toString("hex"),
      created: new Date().toISOString(),
      createdBy: `prs-backup ${VERSION}`,
      chunker: { ...DEFAULT_CHUNKER_PARAMS },
      compression: { algorithm: "zstd", level: options.compressionLevel ?? 3 },
    };
    const created = await backend.put(HEADER_KEY, `${JSON.stringify(header, null, 2)}\n`, { ifAbsent: true });
    await backend.flush();
    return { repo: await Repository.open(backend, options), created };
  }

  /** Opens an existing repository; a clear error when there is none or it is newer than this program. */
  static async open(backend: Backend, options: OpenOptions = {}): Promise<Repository> {
    let raw: Buffer;
    try {
      raw = await backend.get(HEADER_KEY);
    } catch (err) {
      if (err instanceof ObjectNotFoundError) {
        throw new UserError(
          "E_REPO_NOT_FOUND",
          `no repository at ${backend.location}: run \`prs-backup init\` first (or check repository.path)`,
        );
      }
      throw err;
    }
    let header: RepositoryHeader;
    try {
      header = JSON.parse(raw.toString("utf8")) as RepositoryHeader;
    } catch (err) {
      throw new RepoCorruptError(`${backend.location}/${HEADER_KEY} is not valid JSON`, { cause: err });
    }
    if (header.format !== "prs-backup") {
      throw new RepoCorruptError(`${backend.location} is not a prs-backup repository`);
    }
    if (header.version > FORMAT_VERSION) {
      throw new UserError(
        "E_REPO_TOO_NEW",
        `repository ${backend.location} has format ${header.version}; this prs-backup reads up to ${FORMAT_VERSION}: upgrade prs-backup`,
      );
    }
    return new Repository(backend, header, options);
  }

  get header(): RepositoryHeader {
    return this.#header;
  }

  /**
   * Raises an older repository to the current format before anything in the new layout is
   * written, so an older prs-backup refuses it instead of missing chunks. True when it did.
   */
  async upgradeFormat(): Promise<boolean> {
    if (this.#header.version >= FORMAT_VERSION) return false;
    const header = { ...this.#header, version: FORMAT_VERSION };
    await this.backend.put(HEADER_KEY, `${JSON.stringify(header, null, 2)}\n`);
    await this.backend.flush();
    this.#header = header;
    return true;
  }

  /** Takes a repository lock (see lock.ts). */
  lock(options: LockOptions): Promise<RepoLock> {
    return RepoLock.acquire(this.backend, options);
  }
}
