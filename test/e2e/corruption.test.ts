import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectOneErrorLine, runCli, runOk, type SnapshotJson, type VerifyJson } from "../helpers/cli.js";
import { writeConfig } from "../helpers/config.js";
import { chunkFiles, damageChunk, removeChunk, storedChunk } from "../helpers/repo.js";
import { makeTempDir, removeTempDirs } from "../helpers/temp-dir.js";
import { snapshotTree, writeRandomFile, type TreeEntry } from "../helpers/tree.js";

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

let ws: string;
let repo: string;
let config: string;
let alpha: string;
let beta: string;
let alphaSnaps: SnapshotJson[];
let betaSnap: SnapshotJson;
let betaState: TreeEntry[];

const cli = (...args: string[]) => runCli(["--config", config, ...args]);
const ok = (...args: string[]) => runOk(["--config", config, ...args]);

/** Flips one bit of a byte well after the encoding tag (byte 0) of a stored chunk. */
async function flipByte(file: string): Promise<void> {
  const body = await fs.readFile(file);
  expect(body.length).toBeGreaterThan(8);
  const at = Math.floor(body.length / 2);
  body[at]! ^= 0x10;
  await fs.writeFile(file, body);
}

// A file below the chunker's minimum size is exactly one chunk, whose id is the file's SHA-256.
const VICTIM = "victim.txt";
const VICTIM_TEXT = "the file whose only chunk gets damaged\n".repeat(50);
const MISSING = "missing.txt";
const MISSING_TEXT = "the file whose only chunk gets deleted\n".repeat(50);
const VICTIM_CHUNK = sha256(VICTIM_TEXT);
const MISSING_CHUNK = sha256(MISSING_TEXT);

beforeAll(async () => {
  ws = await makeTempDir();
  repo = path.join(ws, "repo");
  alpha = path.join(ws, "alpha");
  beta = path.join(ws, "beta");
  await fs.mkdir(path.join(alpha, "sub"), { recursive: true });
  await fs.writeFile(path.join(alpha, VICTIM), VICTIM_TEXT);
  await fs.writeFile(path.join(alpha, "sub", MISSING), MISSING_TEXT);
  await fs.writeFile(path.join(alpha, "intact.txt"), "an intact file of alpha\n");
  await fs.mkdir(path.join(beta, "deeper"), { recursive: true });
  await writeRandomFile(path.join(beta, "deeper/beta.bin"), 3_000_000, "beta");
  await fs.writeFile(path.join(beta, "notes.txt"), "beta's own notes, shared with nobody\n");
  config = await writeConfig(path.join(ws, "prs-backup.yaml"), {
    repository: repo,
    targets: { alpha: { paths: [alpha] }, beta: { paths: [beta] } },
  });
  await ok("init");
  await ok("backup", "alpha");
  await fs.writeFile(path.join(alpha, "later.txt"), "added for the second snapshot of alpha\n");
  await ok("backup", "alpha");
  betaState = await snapshotTree(beta);
  betaSnap = (await ok("backup", "beta", "--json")).json<SnapshotJson[]>()[0]!;
  alphaSnaps = (await ok("list", "alpha", "--json")).json<SnapshotJson[]>();
  expect(alphaSnaps).toHaveLength(2);
  expect((await ok("verify", "--json")).json<VerifyJson>()).toMatchObject({ ok: true, checked: 3 });
});

afterAll(removeTempDirs);

describe("a damaged chunk", () => {
  beforeAll(async () => {
    // Small files are packed, each file in a frame of its own: the damage stays in one file.
    const victim = await storedChunk(repo, VICTIM_CHUNK);
    expect(victim.packed).toBe(true);
    await damageChunk(victim);
  });

  it("makes verify exit 3, naming every snapshot that uses it on stderr and in --json", async () => {
    const r = await cli("verify", "--json");
    expect(r.exitCode).toBe(3);
    const report = r.json<VerifyJson>();
    expect(report.ok).toBe(false);
    expect(report.checked).toBe(3);
    const damaged = report.problems.filter((p) => p.message.includes(VICTIM_CHUNK));
    expect(damaged.map((p) => p.snapshot).sort()).toEqual(alphaSnaps.map((s) => s.id).sort());
    for (const p of damaged) expect(p.target).toBe("alpha");
    expect(report.problems.some((p) => p.snapshot === betaSnap.id)).toBe(false);
    for (const s of alphaSnaps) expect(r.stderr).toContain(s.id);
    expect(r.stderr).not.toContain(betaSnap.id);
    expect(expectOneErrorLine(r.stderr)).toContain(alphaSnaps[0]!.id);
  });

  it("the other target's snapshots still verify", async () => {
    const r = await ok("verify", "beta", "--json");
    expect(r.json<VerifyJson>()).toMatchObject({ ok: true, checked: 1, problems: [] });
    const one = await ok("verify", "--snapshot", betaSnap.id, "--json");
    expect(one.json<VerifyJson>()).toMatchObject({ ok: true, checked: 1 });
  });

  it("stops a restore with an error naming the chunk or file; the file never appears under its name", async () => {
    const out = path.join(ws, "out-damaged");
    const r = await cli("restore", "alpha", "--snapshot", alphaSnaps[1]!.id, "--to", out);
    expect(r.exitCode).toBe(1);
    const line = expectOneErrorLine(r.stderr);
    expect(line.includes(VICTIM_CHUNK) || line.includes(VICTIM)).toBe(true);
    expect(line).toMatch(/damaged|does not match|corrupt/i);
    const restoredDir = path.join(out, alpha);
    const names = await fs.readdir(restoredDir).catch(() => [] as string[]);
    expect(names).not.toContain(VICTIM);
    expect(names.filter((n) => n.includes(VICTIM))).toEqual([]); // no temp file left behind either
  });

  it("restores the undamaged target exactly", async () => {
    const out = path.join(ws, "out-beta");
    await ok("restore", "beta", "--to", out);
    expect(await snapshotTree(path.join(out, beta))).toEqual(betaState);
  });
});

describe("a deleted chunk", () => {
  beforeAll(async () => {
    await removeChunk(repo, await storedChunk(repo, MISSING_CHUNK));
  });

  it("is reported by verify, naming the chunk and the snapshots", async () => {
    const r = await cli("verify", "alpha", "--json");
    expect(r.exitCode).toBe(3);
    const report = r.json<VerifyJson>();
    const missing = report.problems.filter((p) => p.message.includes(MISSING_CHUNK));
    expect(missing.map((p) => p.snapshot).sort()).toEqual(alphaSnaps.map((s) => s.id).sort());
    expect(missing[0]!.message).toMatch(/missing/);
    expect(expectOneErrorLine(r.stderr)).toMatch(/^error: .*damaged/);
  });

  it("stops a restore naming the chunk or file", async () => {
    const out = path.join(ws, "out-missing");
    const r = await cli("restore", "alpha", "--snapshot", alphaSnaps[0]!.id, "--to", out);
    expect(r.exitCode).toBe(1);
    const line = expectOneErrorLine(r.stderr);
    expect(line.includes(MISSING_CHUNK) || line.includes(MISSING) || line.includes(VICTIM_CHUNK)).toBe(true);
    const sub = await fs.readdir(path.join(out, alpha, "sub")).catch(() => [] as string[]);
    expect(sub.filter((n) => n.includes(MISSING))).toEqual([]);
  });

  it("leaves the other target verifying", async () => {
    expect((await ok("verify", "beta", "--json")).json<VerifyJson>().ok).toBe(true);
  });
});

describe("a damaged chunk of a multi-chunk file", () => {
  it("fails the restore and never leaves the partly written file under its name", async () => {
    const dir = await makeTempDir();
    const src = path.join(dir, "src");
    await fs.mkdir(src);
    await writeRandomFile(path.join(src, "large.bin"), 6_000_000, "large");
    const cfg = await writeConfig(path.join(dir, "c.yaml"), {
      repository: path.join(dir, "repo"),
      targets: { big: { paths: [src] } },
    });
    await runOk(["--config", cfg, "init"]);
    const [snap] = (await runOk(["--config", cfg, "backup", "--json"])).json<SnapshotJson[]>();
    // Random data is stored raw (tag 0); the entry list compresses (tag 1). Damage the
    // second raw chunk in listing order: one of the file's, not necessarily its first.
    const raw: string[] = [];
    for (const file of await chunkFiles(path.join(dir, "repo"))) {
      if ((await fs.readFile(file))[0] === 0) raw.push(file);
    }
    expect(raw.length).toBeGreaterThanOrEqual(2);
    await flipByte(raw[1]!);
    const verify = await runCli(["--config", cfg, "verify", "--json"]);
    expect(verify.exitCode).toBe(3);
    expect(verify.json<VerifyJson>().problems[0]).toMatchObject({ snapshot: snap!.id, target: "big" });
    const out = path.join(dir, "out");
    const r = await runCli(["--config", cfg, "restore", "big", "--to", out]);
    expect(r.exitCode).toBe(1);
    const line = expectOneErrorLine(r.stderr);
    expect(line.includes(path.basename(raw[1]!)) || line.includes("large.bin")).toBe(true);
    const names = await fs.readdir(path.join(out, src)).catch(() => [] as string[]);
    expect(names).toEqual([]);
  });
});
