/** Quotes a word for /bin/sh (cron lines, archive_command, benchmark pipelines): plain words stay bare. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
