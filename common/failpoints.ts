/**
 * Named fault-injection points, in the manner of etcd's gofail: production code calls
 * `failpoint("name")` where a crash would hurt most, and the environment variable
 * FEDPROOF_FAILPOINTS=name=hang (or name=exit) turns it on. Tests use them to kill a
 * worker at a known instant instead of racing a timer. Off by default and free when off.
 */
export async function failpoint(name: string): Promise<void> {
  const spec = process.env.FEDPROOF_FAILPOINTS;
  if (!spec) return;
  for (const entry of spec.split(",")) {
    const [key, action] = entry.split("=");
    if (key !== name) continue;
    process.stderr.write(`failpoint ${name} triggered: ${action}\n`);
    if (action === "exit") process.exit(86);
    if (action === "hang") await new Promise(() => {});
  }
}
