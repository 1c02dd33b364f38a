/**
 * The built-in demo (`npm run demo`): a sample uploads tree is backed up, changed,
 * backed up again, verified and restored into a fresh folder, all through the real
 * CLI, then the restored tree is compared with the source byte for byte.
 */
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { demoPitr } from "./demo-pitr.js";
import { demoPostgres } from "./demo-postgres.js";
import { demoRedis } from "./demo-redis.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const demo = path.join(root, ".demo");
const cli = path.join(root, "dist/bin/prs-backup.js");
const config = path.join(demo, "prs-backup.yaml");
const uploads = path.join(demo, "source/uploads");

function run(args: string[]): { out: string; seconds: number } {
  const started = process.hrtime.bigint();
  const out = execFileSync(process.execPath, [cli, "--config", config, ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  return { out, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

function step(title: string): void {
  process.stdout.write(`\n== ${title}\n`);
}

async function makeUploads(): Promise<void> {
  for (let d = 0; d < 8; d++) {
    const dir = path.join(uploads, `2026/${String(d + 1).padStart(2, "0")}`);
    await fs.mkdir(dir, { recursive: true });
    for (let f = 0; f < 25; f++) {
      const binary = f % 3 !== 0;
      const size = binary ? 20_000 + (((d * 25 + f) * 7919) % 400_000) : 5_000 + f * 300;
      const body = binary ? randomBytes(size) : Buffer.from(`invoice ${d}-${f}\n`.repeat(size / 16));
      await fs.writeFile(path.join(dir, binary ? `scan-${f}.jpg` : `invoice-${f}.txt`), body);
    }
  }
  await fs.mkdir(path.join(uploads, "empty-folder"), { recursive: true });
  await fs.symlink("2026/01", path.join(uploads, "latest-month"));
}

async function changeUploads(): Promise<void> {
  await fs.appendFile(path.join(uploads, "2026/01/invoice-0.txt"), "amended\n");
  await fs.writeFile(path.join(uploads, "2026/02/scan-1.jpg"), randomBytes(50_000));
  await fs.rm(path.join(uploads, "2026/03/scan-2.jpg"));
  await fs.writeFile(path.join(uploads, "2026/08/new-upload.pdf"), randomBytes(120_000));
}

async function hashTree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const visit = async (p: string): Promise<void> => {
    for (const entry of await fs.readdir(p, { withFileTypes: true })) {
      const full = path.join(p, entry.name);
      const rel = path.relative(dir, full);
      if (entry.isDirectory()) {
        out.set(rel, "dir");
        await visit(full);
      } else if (entry.isSymbolicLink()) out.set(rel, `-> ${await fs.readlink(full)}`);
      else
        out.set(
          rel,
          createHash("sha256")
            .update(await fs.readFile(full))
            .digest("hex"),
        );
    }
  };
  await visit(dir);
  return out;
}

interface Summary {
  id: string;
  sourceBytes: number;
  storedBytes: number;
}

const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;

async function main(): Promise<void> {
  await fs.rm(demo, { recursive: true, force: true });
  await fs.mkdir(demo, { recursive: true });
  await fs.writeFile(
    config,
    `repository:\n  path: ./repo\ntargets:\n  uploads:\n    type: files\n    paths: [./source/uploads]\n`,
  );
  await makeUploads();

  step("init");
  process.stdout.write(run(["init"]).out);
  step("backup #1");
  const first = run(["backup", "uploads", "--json"]);
  const [s1] = JSON.parse(first.out) as Summary[];
  process.stdout.write(
    `snapshot ${s1!.id}: ${mb(s1!.sourceBytes)} source, ${mb(s1!.storedBytes)} stored, ${first.seconds.toFixed(2)}s\n`,
  );
  step("change 3 files, delete 1, add 1; backup #2");
  await changeUploads();
  const second = run(["backup", "uploads", "--json"]);
  const [s2] = JSON.parse(second.out) as Summary[];
  process.stdout.write(
    `snapshot ${s2!.id}: ${mb(s2!.sourceBytes)} source, ${mb(s2!.storedBytes)} stored, ${second.seconds.toFixed(2)}s\n`,
  );
  step("list");
  process.stdout.write(run(["list"]).out);
  step("verify --deep");
  const verify = run(["verify", "--deep", "--json"]);
  const report = JSON.parse(verify.out) as { ok: boolean; checked: number; chunksChecked: number };
  process.stdout.write(
    `ok=${report.ok}: ${report.checked} snapshots, ${report.chunksChecked} chunks checked, ${verify.seconds.toFixed(2)}s\n`,
  );
  step("restore latest into .demo/restore");
  const restore = run(["restore", "uploads", "--to", path.join(demo, "restore")]);
  process.stdout.write(restore.out);
  const [expected, actual] = await Promise.all([
    hashTree(uploads),
    hashTree(path.join(demo, "restore", uploads)),
  ]);
  const differing =
    [...expected].filter(([p, h]) => actual.get(p) !== h).length + Math.abs(expected.size - actual.size);
  const engineFailures = await runEngineDemos();
  step("verify --deep, every target: restore drills into scratch servers");
  const finalVerify = run(["verify", "--deep", "--json"]);
  const finalReport = JSON.parse(finalVerify.out) as {
    ok: boolean;
    drills?: { target: string; ok: boolean; seconds: number }[];
  };
  for (const d of finalReport.drills ?? []) {
    process.stdout.write(`${d.ok ? "✓" : "✗"} drill ${d.target} in ${d.seconds.toFixed(1)}s\n`);
  }

  step("summary");
  const rows = [
    ["step", "seconds", "source", "stored"],
    ["backup #1", first.seconds.toFixed(2), mb(s1!.sourceBytes), mb(s1!.storedBytes)],
    ["backup #2", second.seconds.toFixed(2), mb(s2!.sourceBytes), mb(s2!.storedBytes)],
    ["verify --deep", verify.seconds.toFixed(2), "", ""],
    ["restore", restore.seconds.toFixed(2), "", ""],
  ];
  for (const r of rows)
    process.stdout.write(
      `${r[0]!.padEnd(14)}${r[1]!.padStart(8)}${r[2]!.padStart(12)}${r[3]!.padStart(12)}\n`,
    );
  process.stdout.write(`restored tree vs source: ${expected.size} entries, ${differing} differing\n`);
  if (differing !== 0 || !report.ok || !finalReport.ok || engineFailures.length > 0) {
    for (const f of engineFailures) process.stdout.write(`failed: ${f}\n`);
    process.stdout.write("DEMO FAILED\n");
    process.exitCode = 1;
  } else process.stdout.write(`demo ok — everything is in ${demo}\n`);
}

/** PostgreSQL (logical), Redis and point-in-time recovery, each against its own throwaway server. */
async function runEngineDemos(): Promise<string[]> {
  const failures: string[] = [];
  const sections: [string, () => Promise<string[]>][] = [
    [
      "PostgreSQL: back up, change, restore into a new database, compare",
      () => demoPostgres({ dir: demo, cli: run }),
    ],
    [
      "Redis: back up, change keys, restore the RDB, load it, compare",
      () => demoRedis({ dir: demo, cli: run }),
    ],
    [
      "point-in-time recovery: base backup, WAL archive, restore to a time",
      () => demoPitr({ dir: demo, cli: run }),
    ],
  ];
  for (const [title, section] of sections) {
    step(title);
    try {
      for (const line of await section()) process.stdout.write(`${line}\n`);
    } catch (err) {
      failures.push(`${title}: ${(err as Error).message}`);
      process.stdout.write(`FAILED: ${(err as Error).message}\n`);
    }
  }
  return failures;
}

await main();
