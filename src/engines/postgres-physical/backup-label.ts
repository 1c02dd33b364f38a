/** What a backup_label says about where the backup starts. */
export function labelStart(label: string): { startLsn?: string; timeline: number } {
  const startLsn = /START WAL LOCATION: ([0-9A-F]+\/[0-9A-F]+)/i.exec(label)?.[1];
  const timeline = Number(/START TIMELINE: (\d+)/.exec(label)?.[1] ?? "1");
  return { ...(startLsn ? { startLsn } : {}), timeline };
}

/** The backup_label's START TIME as ISO 8601 UTC, when it can be read. */
export function labelTime(label: string): string | undefined {
  const text = /START TIME: (.+)/.exec(label)?.[1]?.trim();
  if (!text) return undefined;
  const ms = Date.parse(
    text
      .replace(/ ([A-Z]{3,4})$/, (_, tz: string) => (tz === "UTC" || tz === "GMT" ? "Z" : ` ${tz}`))
      .replace(" ", "T"),
  );
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}
