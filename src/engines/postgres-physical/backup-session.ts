import pg from "pg";
import { OperationError } from "../../errors.js";

/** What pg_backup_stop returns: the stop LSN and the files the backup must hold. */
export interface BackupStop {
  stopLsn: string;
  label: string;
  /** Empty when the cluster has no tablespaces. */
  tablespaceMap: string;
}

/**
 * A non-exclusive backup (PostgreSQL's low-level backup API) held open on one connection:
 * between `pg_backup_start` and `pg_backup_stop` the data directory may be copied by any
 * means, and if the connection drops the server ends the backup by itself.
 */
export class BackupSession {
  readonly #client: pg.Client;
  readonly #pg15: boolean;

  private constructor(client: pg.Client, pg15: boolean) {
    this.#client = client;
    this.#pg15 = pg15;
  }

  /** Starts the backup; `fast` asks for an immediate checkpoint instead of a spread one. */
  static async start(
    config: pg.ClientConfig,
    options: { label: string; fast: boolean; versionNum: number },
  ): Promise<BackupSession> {
    const client = new pg.Client({ ...config, connectionTimeoutMillis: 10_000 });
    await client.connect();
    const pg15 = options.versionNum >= 150000;
    try {
      await client.query(pg15 ? "SELECT pg_backup_start($1, $2)" : "SELECT pg_start_backup($1, $2, false)", [
        options.label,
        options.fast,
      ]);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw new OperationError(
        "E_PG_BASEBACKUP_FAILED",
        `cannot start a backup: ${(err as Error).message}; the connection's role needs EXECUTE on ${pg15 ? "pg_backup_start and pg_backup_stop" : "pg_start_backup and pg_stop_backup"} (or set method: pg_basebackup)`,
        { cause: err },
      );
    }
    return new BackupSession(client, pg15);
  }

  /**
   * Ends the backup. PostgreSQL switches to a new WAL segment so the last one needed can
   * be archived; waiting for it is the caller's (with its own time limit).
   */
  async stop(): Promise<BackupStop> {
    try {
      const result = await this.#client.query<{ lsn: string; labelfile: string; spcmapfile: string | null }>(
        this.#pg15
          ? "SELECT lsn::text, labelfile, spcmapfile FROM pg_backup_stop(false)"
          : "SELECT lsn::text, labelfile, spcmapfile FROM pg_stop_backup(false, false)",
      );
      const row = result.rows[0];
      if (!row) throw new Error("pg_backup_stop returned nothing");
      return { stopLsn: row.lsn, label: row.labelfile, tablespaceMap: row.spcmapfile ?? "" };
    } catch (err) {
      throw new OperationError(
        "E_PG_BASEBACKUP_FAILED",
        `cannot stop the backup: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    } finally {
      await this.close();
    }
  }

  /** Ends the connection (the server then abandons an unfinished backup). */
  async close(): Promise<void> {
    await this.#client.end().catch(() => undefined);
  }
}
