import * as z from "zod";
import {
  argvSchema,
  checkedString,
  cronSchema,
  envVarNameSchema,
  nonEmptyString,
  pathSchema,
  redisUrlProblem,
} from "./fields.js";

const count = z.int().min(0);
const byteSize = z.int().positive();

/**
 * Which snapshots of a target to keep. A snapshot is kept when any rule keeps it, and the
 * newest good snapshot is always kept. Default: the runbook's table (see `defaults.ts`).
 */
export const retentionSchema = z.strictObject({
  /** Keep snapshots younger than this many days. */
  days: count.optional(),
  /** Keep snapshots younger than this many weeks. */
  weeks: count.optional(),
  /** Keep the newest N snapshots. */
  keepLast: count.optional(),
  /** Keep the newest snapshot of each of the last N hours that have one. */
  keepHourly: count.optional(),
  /** Keep the newest snapshot of each of the last N days that have one. */
  keepDaily: count.optional(),
  /** Keep the newest snapshot of each of the last N weeks that have one. */
  keepWeekly: count.optional(),
  /** Keep the newest snapshot of each of the last N months that have one. */
  keepMonthly: count.optional(),
  /** Keep the newest snapshot of each of the last N years that have one. */
  keepYearly: count.optional(),
});

/** Content-defined chunking sizes in bytes. Omitted sizes take `DEFAULT_CHUNKING` (defaults.ts). */
export const chunkingSchema = z.strictObject({
  /** Smallest chunk. Must be less than avgSize. */
  minSize: byteSize.optional(),
  /** Target average chunk; a power of two. */
  avgSize: byteSize.optional(),
  /** Largest chunk. Must be greater than avgSize. */
  maxSize: byteSize.optional(),
});

const commonTargetFields = {
  /** When to back up: cron, 5 fields or 6 with seconds first. Default: by name, then by type (defaults.ts). */
  schedule: cronSchema.optional(),
  /** Which snapshots to keep. Default: by name, then by type (defaults.ts). */
  retention: retentionSchema.optional(),
  /** Scheduled and included in `backup` with no target named. Default: true. */
  enabled: z.boolean().default(true),
  /** Prefix argv to run the target's tools inside a container, e.g. `[docker, exec, -i, prs-onprem-postgres-timescale]`. Default: none. */
  exec: argvSchema.optional(),
  /** Fail a backup that runs longer than this. Default: no limit. */
  timeoutSeconds: z.number().positive().optional(),
  /** Chunking sizes for this target's data. Default: `DEFAULT_CHUNKING`. */
  chunking: chunkingSchema.optional(),
};

const sslModes = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] as const;

/** How to reach a PostgreSQL server. The password comes from `passwordEnv` or `passwordFile`, never inline. */
export const connectionSchema = z.strictObject({
  /** Host name, IP address or Unix-socket directory. Default: "localhost". */
  host: nonEmptyString.default("localhost"),
  /** TCP port. Default: 5432. */
  port: z.int().min(1).max(65535).default(5432),
  /** Role to connect as. Required. */
  user: nonEmptyString,
  /** Database to back up. Required (postgres-physical: default "postgres"). */
  database: nonEmptyString,
  /** Environment variable holding the password. Default: none. */
  passwordEnv: envVarNameSchema.optional(),
  /** File holding the password (one trailing newline ignored); relative to the config file. Default: none. */
  passwordFile: pathSchema.optional(),
  /** libpq sslmode. Default: libpq's own ("prefer"). */
  sslmode: z.enum(sslModes).optional(),
});

/** Directories and files, backed up as a tree. */
export const filesTargetSchema = z.strictObject({
  type: z.literal("files"),
  ...commonTargetFields,
  /** Files or directories to back up; relative to the config file. At least one. */
  paths: z.array(pathSchema).min(1),
  /** Glob patterns; when given, only matching files are backed up. Default: everything. */
  include: z.array(nonEmptyString).optional(),
  /** Glob patterns of files to leave out. Default: none. */
  exclude: z.array(nonEmptyString).optional(),
  /** Do not cross into other mounted file systems. Default: false. */
  oneFileSystem: z.boolean().default(false),
  /** Worker threads that read, hash and compress files, and that write a restore's files. Default: 2. */
  threads: z.int().min(1).max(64).default(2),
});

/** A logical PostgreSQL backup (pg_dump of one database, plus roles and globals). */
export const postgresTargetSchema = z.strictObject({
  type: z.literal("postgres"),
  ...commonTargetFields,
  connection: connectionSchema,
  /** Directory of pg_dump, pg_restore, psql. Default: found on PATH. */
  binDir: nonEmptyString.optional(),
  /**
   * pg_restore jobs (restores and drills). 1 streams the dump into pg_restore's stdin with no
   * copy on disk; more first spools the dump to `repository.tempDirectory` so pg_restore -j can
   * seek in it (worth it with many cores and many large tables; see docs/postgres.md). With
   * `exec`, always streamed. Default: 1.
   */
  jobs: z.int().min(1).default(1),
  /**
   * pg_restore sessions that load a streamed restore's table data side by side, each
   * table's rows shared among them, with definitions before and indexes after (see
   * docs/postgres.md). 1: one pg_restore reads the whole dump. Not used with `jobs` > 1.
   * Default: 2.
   */
  restoreSessions: z.int().min(1).max(16).default(2),
  /** Worker threads that hash and compress the dump as it streams in (and decode it for a spool). Default: 2. */
  threads: z.int().min(1).max(64).default(2),
});

/** A physical PostgreSQL backup: base backups plus WAL, for point-in-time recovery. */
export const postgresPhysicalTargetSchema = z.strictObject({
  type: z.literal("postgres-physical"),
  ...commonTargetFields,
  connection: connectionSchema.extend({ database: nonEmptyString.default("postgres") }),
  /** The server's data directory (for in-place restores); relative to the config file. Required. */
  dataDirectory: pathSchema,
  /** Directory of pg_basebackup, pg_receivewal, pg_verifybackup. Default: found on PATH. */
  binDir: nonEmptyString.optional(),
  /**
   * How base backups read the cluster: "direct" copies the data directory between
   * pg_backup_start and pg_backup_stop with worker threads (the server must run on this
   * machine with its data directory at dataDirectory); "pg_basebackup" streams it through
   * pg_basebackup (any host, a replication connection); "auto" takes direct when it can.
   * Default: "auto".
   */
  method: z.enum(["auto", "direct", "pg_basebackup"]).default("auto"),
  /** Worker threads that read, hash and compress a direct base backup (and decode it on restore). Default: 2. */
  threads: z.int().min(1).max(64).default(2),
  /** The start checkpoint: "fast" (start at once) or "spread" (gentler on a busy server). Default: "fast". */
  checkpoint: z.enum(["fast", "spread"]).default("fast"),
  /** How long a base backup waits for its WAL to reach the archive before it is recorded as partial. Default: 300. */
  archiveWaitSeconds: z.number().positive().default(300),
  /** Leave WAL archiving on in a restored cluster (it then writes into this archive). Default: false. */
  archiveAfterRestore: z.boolean().default(false),
});

/** A Redis server, backed up as an RDB snapshot. */
export const redisTargetSchema = z.strictObject({
  type: z.literal("redis"),
  ...commonTargetFields,
  /** `redis://[user[:password]@]host[:port][/db]` or `rediss://…`. A password here is allowed and redacted. */
  url: checkedString(redisUrlProblem),
  /** ACL user name. Default: the URL's, else "default". */
  username: nonEmptyString.optional(),
  /** Environment variable holding the password. Default: none. */
  passwordEnv: envVarNameSchema.optional(),
  /** File holding the password; relative to the config file. Default: none. */
  passwordFile: pathSchema.optional(),
  /** Redis data directory (dump.rdb, appendonlydir) for in-place restores; relative to the config file. Default: none. */
  dataDirectory: pathSchema.optional(),
  /** Directory of redis-cli, redis-check-rdb, redis-server (drills). Default: found on PATH. */
  binDir: nonEmptyString.optional(),
  /**
   * Command that stops Redis for an in-place restore, e.g. `[systemctl, stop, redis-server]` or
   * `[docker, compose, -f, FILE, stop, redis]`. Default: `SHUTDOWN NOSAVE` over the connection
   * (only safe when nothing restarts Redis on its own).
   */
  stopCommand: argvSchema.optional(),
  /** Command that starts Redis again after an in-place restore. Required for in-place restores. Default: none. */
  startCommand: argvSchema.optional(),
});

/** Any target, chosen by its `type`. */
export const targetSchema = z.discriminatedUnion("type", [
  filesTargetSchema,
  postgresTargetSchema,
  postgresPhysicalTargetSchema,
  redisTargetSchema,
]);

/** The target types, in the order the schema lists them. */
export const TARGET_TYPES = ["files", "postgres", "postgres-physical", "redis"] as const;
