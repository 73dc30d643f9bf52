// The package as a user gets it: `npm pack`, install the tarball into an empty folder offline (its dependencies
// from the local npm cache that setup.sh filled; ONNXRUNTIME_NODE_INSTALL=skip), then run its CLI and import it
// from there. Proves the packed package is self-contained (the contract travels as src/contract.json).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatNpy, maxAbsDiff, readNpy } from '../src/index.js';
import { CONTRACT_FILE, smallest1dCase } from './fixtures.js';

const PACKAGE = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'crsae-pack-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
const npm = (args, cwd) => {
  const run = spawnSync('npm', args, { cwd, env, encoding: 'utf8', timeout: 240_000 });
  const hint = /ENOTCACHED/.test(run.stderr) ? '\na dependency is not in the npm cache: run runtimes/node/setup.sh (it fills the cache)' : '';
  assert.equal(run.status, 0, `npm ${args.join(' ')} failed (${run.status}):\n${run.stdout}\n${run.stderr}${hint}`);
  return run.stdout;
};

test('npm pack installs offline into an empty folder, and its CLI and modules run from there', { timeout: 300_000 }, async () => {
  const [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', dir], PACKAGE));
  const files = packed.files.map((f) => f.path);
  for (const f of ['package.json', 'README.md', 'bin/crsae-node.js', 'src/index.js', 'src/core.js', 'src/contract.json']) {
    assert.ok(files.includes(f), `${f} is missing from the tarball`);
  }
  assert.ok(!files.some((f) => f.startsWith('test/') || f.startsWith('node_modules/')), `tests or node_modules packed: ${files}`);

  const app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'crsae-pack-test', private: true, type: 'module' }));
  npm(['install', '--offline', '--no-save', join(dir, packed.filename)], app);
  const installed = join(app, 'node_modules', 'crsae-node');
  assert.ok(readFileSync(join(installed, 'src', 'contract.json')).equals(readFileSync(CONTRACT_FILE)));

  const c = await smallest1dCase();
  const out = join(dir, 'codes.npy');
  const bin = join(app, 'node_modules', '.bin', 'crsae-node');
  const run = spawnSync(bin, [c.model, c.input, '-o', out, '--output', 'codes'], { cwd: app, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stderr, '');
  const ref = await readNpy(c.outputs.codes);
  assert.ok(maxAbsDiff((await readNpy(out)).data, ref.data) <= c.atol.codes);

  // The contract's message, read from the installed copy, for a too-small signal.
  const meta = JSON.parse(readFileSync(c.sidecar, 'utf8'));
  const short = join(dir, 'short.npy');
  writeFileSync(short, formatNpy({ data: new Float32Array(meta.channels * (meta.min_size - 1)), shape: [1, meta.channels, meta.min_size - 1] }));
  const small = spawnSync(bin, [c.model, short, '-o', join(dir, 'x.npy')], { cwd: app, encoding: 'utf8' });
  assert.equal(small.status, 1);
  const contract = JSON.parse(readFileSync(CONTRACT_FILE, 'utf8'));
  assert.equal(small.stderr, `error: ${contract.messages.too_small.replace('{size}', String(meta.min_size - 1)).replace('{min_size}', String(meta.min_size))}\n`);

  // Both entry points resolve by package name from the install folder.
  const script = "const m = await import('crsae-node'); const core = await import('crsae-node/core');"
    + " console.log(JSON.stringify([typeof m.loadModel, typeof core.Model, core.FORMAT]));";
  const imported = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: app, encoding: 'utf8' });
  assert.equal(imported.status, 0, imported.stderr);
  assert.deepEqual(JSON.parse(imported.stdout), ['function', 'function', contract.format]);
});
