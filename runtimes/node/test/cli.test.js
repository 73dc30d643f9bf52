import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { maxAbsDiff, readNpy } from '../src/index.js';
import { goldenIndex, smallest1dCase } from './fixtures.js';

const CLI = fileURLToPath(new URL('../bin/crsae-node.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'crsae-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const cli = (...args) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

test('the CLI writes each output of a 1-D golden case within atol, and nothing else', async () => {
  for (const c of [(await smallest1dCase()) ?? goldenIndex().cases[0]]) {
    for (const [output, refPath] of Object.entries(c.outputs)) {
      const out = join(dir, `${c.name}.${output}.npy`);
      const args = [c.model, c.input, '-o', out, '--output', output];
      if (c.chunk_length) args.push('--chunk', String(c.chunk_length));
      const run = cli(...args);
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, new RegExp(`^wrote .*: ${output} \\[[\\d, ]+\\] in [\\d.]+ ms\\n$`));
      const ref = await readNpy(refPath);
      const got = await readNpy(out);
      assert.deepEqual(got.shape, ref.shape);
      assert.ok(maxAbsDiff(got.data, ref.data) <= c.atol[output]);
    }
  }
  assert.ok(readdirSync(dir).every((name) => name.endsWith('.npy')), `leftovers: ${readdirSync(dir)}`);
});

test('the CLI chunks with --chunk and matches the whole-signal run', async () => {
  const c = await smallest1dCase();
  const N = (await readNpy(c.input)).shape[2];
  const whole = join(dir, 'whole.npy');
  const chunked = join(dir, 'chunked.npy');
  assert.equal(cli(c.model, c.input, '-o', whole, '--output', 'codes').status, 0);
  const run = cli(c.model, c.input, '-o', chunked, '--output', 'codes', '--chunk', String(Math.ceil(N / 2)));
  assert.equal(run.status, 0, run.stderr);
  const a = await readNpy(whole);
  const b = await readNpy(chunked);
  assert.ok(maxAbsDiff(a.data, b.data) <= c.atol.codes);
});

test('the CLI reports crsae errors on one line and exits 1', () => {
  const c = goldenIndex().cases[0];
  const notNpy = join(dir, 'bad.npy');
  writeFileSync(notNpy, 'not numpy');
  const run = cli(c.model, notNpy, '-o', join(dir, 'x.npy'));
  assert.equal(run.status, 1);
  assert.match(run.stderr, /^error: .*bad\.npy is not a .npy file .*\n$/);
  const notModel = cli(notNpy, c.input, '-o', join(dir, 'x.npy'));
  assert.equal(notModel.status, 1);
  assert.match(notModel.stderr, /^error: /);
});

test('the CLI exits 2 on usage errors', () => {
  const c = goldenIndex().cases[0];
  for (const args of [[], [c.model, c.input], [c.model, c.input, '-o', 'x.npy', '--chunk', 'ten'], ['--bogus']]) {
    const run = cli(...args);
    assert.equal(run.status, 2, `${args}: ${run.stderr}`);
    assert.match(run.stderr, /^error: .*\nusage: crsae-node/);
  }
  assert.equal(cli('--help').status, 0);
});
