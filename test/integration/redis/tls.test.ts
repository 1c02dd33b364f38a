import { execFileSync } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ScratchRedis } from "../../../src/engines/redis/scratch-server.js";
import { fillSample } from "../../helpers/redis.js";
import { prs, prsJson, redisWorkspace, type SnapshotSummary } from "./support.js";
import { freePort } from "../../../src/util/free-port.js";

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: "ignore" });
}

/** A throwaway CA and a server certificate for 127.0.0.1 signed by it. */
async function certificates(dir: string): Promise<void> {
  openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "1",
      "-subj",
      "/CN=prs test CA",
    ],
    dir,
  );
  openssl(
    [
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "server.key",
      "-out",
      "server.csr",
      "-subj",
      "/CN=127.0.0.1",
    ],
    dir,
  );
  await fs.writeFile(path.join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1\n");
  openssl(
    [
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.crt",
      "-days",
      "1",
      "-extfile",
      "ext.cnf",
    ],
    dir,
  );
}

describe("rediss:// (TLS)", () => {
  it("backs up over TLS, verifying the server certificate", async () => {
    const ws = await redisWorkspace([]);
    cleanups.push(() => fs.rm(ws.dir, { recursive: true, force: true }));
    await certificates(ws.dir);
    const tlsPort = await freePort();
    const server = await ScratchRedis.start({
      config: [
        `tls-port ${tlsPort}`,
        `tls-cert-file ${ws.dir}/server.crt`,
        `tls-key-file ${ws.dir}/server.key`,
        `tls-ca-cert-file ${ws.dir}/ca.crt`,
        "tls-auth-clients no",
      ],
    });
    cleanups.push(() => server.close());
    await fillSample(server.port, undefined, 20);
    await fs.appendFile(
      ws.config,
      `    url: rediss://127.0.0.1:${tlsPort}\n    dataDirectory: ${server.dir}\n`,
    );
    expect((await prs(ws, ["init"])).exitCode).toBe(0);

    // Without the CA the certificate is refused: one line, exit 1.
    const refused = await prs(ws, ["backup", "redis"]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(
      /^error: cannot connect to Redis at 127\.0\.0\.1:\d+ \(.*(CERT|certificate|SELF_SIGNED).*\)/im,
    );

    const env = { NODE_EXTRA_CA_CERTS: path.join(ws.dir, "ca.crt") };
    const r = await prs(ws, ["backup", "redis", "--json"], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/Warning/);
    const [snap] = JSON.parse(r.stdout) as SnapshotSummary[];
    const shown = await prsJson<{ metadata: { rdbKeys: number } }>(ws, ["show", snap!.id]);
    expect(shown.metadata.rdbKeys).toBeGreaterThan(100);
  });
});
