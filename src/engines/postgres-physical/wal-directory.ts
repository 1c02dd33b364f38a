import fs from "node:fs/promises";
import path from "node:path";

/** Owner of the PostgreSQL data directory: the OS user `archive_command` runs as. */
export interface DirOwner {
  uid: number;
  gid: number;
}

/**
 * Makes `<repository>/wal/<target>/` writable by the PostgreSQL server's OS user while
 * the rest of the repository stays private: the repository root and `wal/` become 0711
 * (others may traverse, not list or read), and `wal/<target>/` is 0700 owned by
 * `owner`. Only when we run as root and the owner is another user; otherwise the
 * folders are simply created 0700. Idempotent.
 * @returns the archive directory.
 */
export async function prepareWalDirectory(
  repositoryPath: string,
  target: string,
  owner: DirOwner,
): Promise<string> {
  const root = path.resolve(repositoryPath);
  const walRoot = path.join(root, "wal");
  const dir = path.join(walRoot, target);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const asRoot = process.getuid?.() === 0;
  if (asRoot && owner.uid !== 0) {
    await fs.chmod(root, 0o711);
    await fs.chmod(walRoot, 0o711);
    const st = await fs.stat(dir);
    if (st.uid !== owner.uid || st.gid !== owner.gid) await fs.chown(dir, owner.uid, owner.gid);
    await fs.chmod(dir, 0o700);
    // Files pushed before (e.g. by root in a test) must stay readable and replaceable by the owner.
    for (const name of await fs.readdir(dir)) {
      const st2 = await fs.stat(path.join(dir, name));
      if (st2.uid !== owner.uid) await fs.chown(path.join(dir, name), owner.uid, owner.gid);
    }
  }
  return dir;
}

/** The owner of a data directory. */
export async function ownerOf(dir: string): Promise<DirOwner> {
  const st = await fs.stat(dir);
  return { uid: st.uid, gid: st.gid };
}

/**
 * Prepares the WAL archive folder of every postgres-physical target of a configuration
 * (for `init`): owned by the owner of the target's data directory when it is visible here.
 * @returns the folders prepared.
 */
export async function prepareWalArchives(config: {
  repository: { path?: string | undefined };
  targets: Readonly<Record<string, { type: string; dataDirectory?: string | undefined }>>;
}): Promise<string[]> {
  const repo = config.repository.path;
  if (repo === undefined) return [];
  const done: string[] = [];
  for (const [name, target] of Object.entries(config.targets)) {
    if (target.type !== "postgres-physical" || target.dataDirectory === undefined) continue;
    const owner = await ownerOf(target.dataDirectory).catch(() => undefined);
    if (owner) done.push(await prepareWalDirectory(repo, name, owner));
  }
  return done;
}
