import type { Engine } from "../engine.js";
import { backupPostgres } from "./backup.js";
import { connect, endpointOf } from "./connection.js";
import { drillPostgres } from "./drill.js";
import { restorePostgres } from "./restore.js";
import type { PostgresTarget } from "./target.js";

/** One PostgreSQL database as a logical backup: pg_dump (custom format) plus the globals. */
export const postgresEngine: Engine<PostgresTarget> = {
  type: "postgres",

  async preflight(target, ctx) {
    // Resolves the password and connects, so a wrong password or an unreachable server
    // fails with one line before the repository is touched.
    const client = await connect(await endpointOf(target, ctx.env));
    await client.end().catch(() => undefined);
  },

  backup: (target, ctx) => backupPostgres(target, ctx),
  restore: (target, request, ctx) => restorePostgres(target, request, ctx),
  drill: (target, snapshot, ctx) => drillPostgres(target, snapshot, ctx),
};
