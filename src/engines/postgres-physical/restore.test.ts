import { describe, expect, it } from "vitest";
import type { RestoreRequest } from "../engine.js";
import { pgRecoveryTime, recoverySettings, recoveryTargetOf, walCommandFor } from "./restore.js";

describe("PITR restore settings", () => {
  it("turns ISO 8601 times into recovery_target_time values, zone required", () => {
    expect(pgRecoveryTime("2026-11-24T14:30:00Z")).toBe("2026-11-24 14:30:00+00");
    expect(pgRecoveryTime("2026-11-24T14:30:00.123456+02:00")).toBe("2026-11-24 14:30:00.123456+02:00");
    expect(() => pgRecoveryTime("2026-11-24T14:30:00")).toThrow(/with its zone/);
    expect(() => pgRecoveryTime("yesterday")).toThrow();
  });

  it("writes PostgreSQL 12+ recovery settings: promote, latest timeline, archiving off", () => {
    const s = recoverySettings({
      restoreCommand: "x %f %p",
      target: { time: "2026-11-24T14:30:00Z" },
      archive: false,
    });
    expect(s).toEqual({
      restore_command: "x %f %p",
      recovery_target_time: "2026-11-24 14:30:00+00",
      recovery_target_action: "promote",
      recovery_target_timeline: "latest",
      archive_mode: "off",
    });
    expect(recoverySettings({ restoreCommand: "x", target: {}, archive: true })).not.toHaveProperty(
      "archive_mode",
    );
  });

  it("builds wal commands with absolute paths and quoting", () => {
    const cmd = walCommandFor("fetch", "/srv/my repo", "db");
    expect(cmd).toMatch(/^\/\S+ \/\S+wal-main\.js fetch --repository '\/srv\/my repo' --target db %f %p$/);
    expect(walCommandFor("push", "/r", "db")).toMatch(/ push --repository \/r --target db %p$/);
  });

  it("doubles a literal % so the server does not expand it as %p, %f or %%", () => {
    expect(walCommandFor("push", "/srv/100%p backups", "db")).toMatch(
      / push --repository '\/srv\/100%%p backups' --target db %p$/,
    );
    expect(walCommandFor("fetch", "/srv/50%", "db")).toMatch(
      / fetch --repository \/srv\/50%% --target db %f %p$/,
    );
  });
});

describe("other recovery targets", () => {
  it("maps --lsn, --xid and --name, one at a time", () => {
    const base = { restoreCommand: "x", archive: false };
    expect(recoverySettings({ ...base, target: { lsn: "0/3000060" } })).toMatchObject({
      recovery_target_lsn: "0/3000060",
    });
    expect(recoverySettings({ ...base, target: { xid: "742" } })).toMatchObject({
      recovery_target_xid: "742",
    });
    expect(recoverySettings({ ...base, target: { name: "before-migration" } })).toMatchObject({
      recovery_target_name: "before-migration",
    });
    expect(() => recoverySettings({ ...base, target: { lsn: "nope" } })).toThrow(/not an LSN/);
    expect(() => recoverySettings({ ...base, target: { xid: "12a" } })).toThrow(/transaction id/);
    const snapshot = {} as RestoreRequest["snapshot"];
    const req = { snapshot, force: false, dryRun: false };
    expect(() => recoveryTargetOf({ ...req, time: "2026-11-24T14:30:00Z", lsn: "0/1" })).toThrow(/only one/);
    expect(recoveryTargetOf({ ...req, name: "x" })).toEqual({ name: "x" });
  });
});
