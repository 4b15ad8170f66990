#!/usr/bin/env node
// lvs-keepalived: keepalived for lvsd. Reads keepalived.conf (or YAML),
// applies virtual_servers to lvsd, runs health checkers and VRRP. Runs in the
// foreground; SIGHUP reloads, SIGTERM/SIGINT stop (lvsd keeps running).
import { main } from '../keepalived/main.js';

main(process.argv.slice(2)).then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`lvs-keepalived: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
