// Runs the browser suite: builds the jwtgate binary once, copies it aside (the cargo target dir may
// be shared with other builds), then runs every *.test.mjs with Node's built-in test runner.
// Exits non-zero if any test fails. Usage: node run.mjs [test files...]

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM, buildServer } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));

if (!existsSync(CHROMIUM)) {
  console.error(`${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium).`);
  process.exit(1);
}

const scratch = mkdtempSync(join(tmpdir(), 'jwtgate-bin-'));
let status = 1;
try {
  const binary = join(scratch, 'jwtgate');
  copyFileSync(buildServer(), binary);
  const files = process.argv.slice(2).length
    ? process.argv.slice(2)
    : readdirSync(here).filter((f) => f.endsWith('.test.mjs')).sort();
  // A test that hangs (a response never read to its end, a browser that never navigates) fails
  // after five minutes instead of holding CI to its limit.
  const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-timeout=300000', ...files], {
    cwd: here,
    stdio: 'inherit',
    env: { ...process.env, JWTGATE_BIN: binary },
  });
  status = result.status ?? 1;
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
process.exit(status);
