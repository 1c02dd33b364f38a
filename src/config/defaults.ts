import { deepFreeze } from "./deep-freeze.js";
import type { ChunkingConfig, RetentionConfig, TargetType } from "./schema.js";

/** A target's schedule and retention when the config leaves them out. */
export interface TargetDefaults {
  readonly schedule: string;
  readonly retention: RetentionConfig;
}

/**
 * The runbook's backup table, by the target names it uses. Same schedules, same age limits:
 * adopting prs-backup must not silently change how long anything is kept.
 */
export const DEFAULTS_BY_NAME: Readonly<Record<string, TargetDefaults>> = deepFreeze({
  database: { schedule: "0 2 * * *", retention: { days: 30 } },
  "database-pitr": { schedule: "0 */6 * * *", retention: { days: 7 } },
  redis: { schedule: "0 3 * * *", retention: { days: 14 } },
  uploads: { schedule: "0 4 * * *", retention: { days: 90 } },
  logs: { schedule: "0 5 * * *", retention: { days: 365 } },
  config: { schedule: "0 6 * * 0", retention: { weeks: 12 } },
});

/** Targets with other names take the defaults of the runbook target of the same type. */
const NAME_FOR_TYPE: Readonly<Record<TargetType, string>> = {
  postgres: "database",
  "postgres-physical": "database-pitr",
  redis: "redis",
  files: "uploads",
};

/** Chunk sizes (bytes) when a target sets none: 512 KiB / 1 MiB / 8 MiB, as restic uses. */
export const DEFAULT_CHUNKING: ChunkingConfig = Object.freeze({
  minSize: 512 * 1024,
  avgSize: 1024 * 1024,
  maxSize: 8 * 1024 * 1024,
});

/**
 * Redis RDB files list keys in hash-table order, so a 1% change touches keys all over the
 * file. Chunks that changed are stored against their previous version (`zstd-ref` frames),
 * so they cost about the changed keys; smaller chunks would only add per-chunk ids to the
 * index and entry list. Measured on 1,000,000 keys with 1% changed (docs/redis.md).
 */
export const REDIS_CHUNKING: ChunkingConfig = Object.freeze({
  minSize: 2 * 1024,
  avgSize: 8 * 1024,
  maxSize: 32 * 1024,
});

/** Chunk sizes of a target that sets none, by type. */
export function defaultChunking(type: TargetType): ChunkingConfig {
  return type === "redis" ? REDIS_CHUNKING : DEFAULT_CHUNKING;
}

/** The default schedule and retention of a target: by its name first, then by its type. */
export function defaultsForTarget(name: string, type: TargetType): TargetDefaults {
  return DEFAULTS_BY_NAME[name] ?? DEFAULTS_BY_NAME[NAME_FOR_TYPE[type]]!;
}

/**
 * A commented example configuration of the whole PRS stack, for `prs-backup init` and the
 * docs. It is a valid config as written (a test loads it).
 */
export function exampleConfig(): string {
  return EXAMPLE;
}

const COMPOSE = "/opt/prs-deployment/02-docker-configuration/docker-compose.onprem.yml";

const EXAMPLE = `# prs-backup configuration for the PRS on-premises stack.
# Relative paths are relative to this file. Secrets never go here: use passwordEnv or passwordFile.

repository:
  path: /mnt/hdd/prs-backups          # or s3: {endpoint, bucket, prefix, region, accessKeyIdEnv, secretAccessKeyEnv}
  # lockTimeoutSeconds: 600           # how long a command waits for a conflicting lock
  # compressionLevel: 3               # zstd level, 1-19

# Run around in-place restores, so the application does not write meanwhile.
services:
  stop: [docker, compose, -f, ${COMPOSE}, stop, backend, frontend, worker]
  start: [docker, compose, -f, ${COMPOSE}, start, backend, frontend, worker]

targets:
  # Logical dump of prs_production (plus roles), daily at 02:00, kept 30 days.
  database:
    type: postgres
    connection:
      host: localhost
      port: 5432
      user: prs_admin
      database: prs_production
      passwordEnv: PRS_DB_PASSWORD
    # exec: [docker, exec, -i, prs-onprem-postgres-timescale]   # run pg_dump inside the container
    schedule: "0 2 * * *"
    retention: {days: 30}

  # Base backups every 6 hours plus continuous WAL: restore to any point in the last 7 days.
  database-pitr:
    type: postgres-physical
    connection: {host: localhost, port: 5432, user: prs_admin, passwordEnv: PRS_DB_PASSWORD}
    dataDirectory: /mnt/ssd/postgresql-data
    schedule: "0 */6 * * *"
    retention: {days: 7}

  redis:
    type: redis
    url: "redis://localhost:6379"
    passwordEnv: PRS_REDIS_PASSWORD
    dataDirectory: /mnt/ssd/redis-data
    schedule: "0 3 * * *"
    retention: {days: 14}

  uploads:
    type: files
    paths: [/mnt/ssd/uploads]
    schedule: "0 4 * * *"
    retention: {days: 90}

  logs:
    type: files
    paths: [/var/log/prs]
    schedule: "0 5 * * *"
    retention: {days: 365}

  # Weekly, Sunday 06:00, kept 12 weeks.
  config:
    type: files
    paths:
      - /opt/prs-deployment/02-docker-configuration
      - /opt/prs-deployment/scripts
      - /etc/nginx
      - /etc/ssl
      - /etc/crontab
      - /etc/systemd/system
    schedule: "0 6 * * 0"
    retention: {weeks: 12}

log:
  file: /var/log/prs-backup.log
  level: info
`;
