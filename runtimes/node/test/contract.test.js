// The runtime's constants agree with export/contract.json, the contract's single source.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CONTRACT_VERSION, FORMAT, INPUT, OUTPUTS } from '../src/index.js';
import { REQUIRED_KEYS, tolerance } from '../src/contract.js';
import { REPO } from './fixtures.js';

const contract = JSON.parse(readFileSync(join(REPO, 'export', 'contract.json'), 'utf8'));

test('format, version and tensor names match export/contract.json', () => {
  assert.equal(FORMAT, contract.format);
  assert.equal(CONTRACT_VERSION, contract.contract_version);
  assert.deepEqual(Object.keys(contract.inputs), [INPUT]);
  assert.deepEqual(Object.keys(contract.outputs), OUTPUTS);
  for (const key of REQUIRED_KEYS) assert.ok(contract.metadata_keys.includes(key), key);
});

test('tolerance follows the contract rule', () => {
  const meta = { atol_floor: contract.tolerance.atol_floor, atol_per_layer: contract.tolerance.atol_per_layer, num_layers: 30 };
  assert.equal(tolerance(meta, Float32Array.of(0.1, -0.5)), 1e-5 + 2e-6 * 30);
  assert.ok(Math.abs(tolerance(meta, Float32Array.of(0.1, -4)) - (1e-5 + 2e-6 * 30 * 4)) < 1e-12);
});
