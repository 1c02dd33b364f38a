import fs from "node:fs/promises";
import { OperationError } from "../../errors.js";
import type { Engine } from "../engine.js";
import { backupPhysical } from "./backup.js";
import { drillPhysical } from "./drill.js";
import { queryServer } from "./pg-connect.js";
import { restorePhysical } from "./restore.js";
import type { PhysicalTarget } from "./target.js";
import { WalArchive } from "./wal-archive.js";
import { checkWalChain } from "./wal-chain.js";

/** Base backups (pg_basebackup) + the WAL archive (`wal push`/`wal fetch`): point-in-time recovery. */
export const postgresPhysicalEngine: Engine<PhysicalTarget> = {
  type: "postgres-physical",

  async preflight(target, ctx) {
    const [row] = await queryServer<{ wal_level: string; archive_mode: string; archive_command: string }>(
      target,
      ctx.env,
      "SELECT current_setting('wal_level') AS wal_level, current_setting('archive_mode') AS archive_mode, current_setting('archive_command') AS archive_command",
    );
    if (!row || row.wal_level === "minimal" || row.archive_mode === "off") {
      throw new OperationError(
        "E_PG_ARCHIVING_OFF",
        `target "${target.name}": the server does not archive WAL (wal_level=${row?.wal_level}, archive_mode=${row?.archive_mode}); run ALTER SYSTEM SET wal_level = 'replica'; ALTER SYSTEM SET archive_mode = 'on'; ALTER SYSTEM SET archive_command = 'prs-backup wal push %p'; then restart PostgreSQL (docs/pitr.md)`,
      );
    }
    if (!/wal(-main\.js)? push/.test(row.archive_command)) {
      ctx.logger.warn(
        `${target.name}: archive_command is "${row.archive_command}", not prs-backup wal push; the base backup will wait for WAL that may never arrive`,
      );
    }
    await fs
      .stat(target.dataDirectory)
      .catch(() =>
        ctx.logger.warn(
          `${target.name}: dataDirectory ${target.dataDirectory} is not visible here; the WAL archive directory keeps its current owner`,
        ),
      );
  },

  backup: (target, ctx) => backupPhysical(target, ctx),
  restore: (target, request, ctx) => restorePhysical(target, request, ctx),

  async verifySnapshot(target, snapshot, ctx) {
    const archive = new WalArchive(ctx.repo.backend.location, target.name);
    return checkWalChain(snapshot, await archive.list());
  },

  drill: (target, snapshot, ctx) => drillPhysical(target, snapshot, ctx),
};
