// No silent CPU: asking for CUDA without the CUDA build is an error, not a CPU session.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { loadModel, ProviderUnavailableError } from '../src/index.js';
import { goldenIndex } from './fixtures.js';

// Keep onnxruntime's own log of the failed library load out of the test output (set before any session).
ort.env.logLevel = 'fatal';

test('asking for CUDA without the CUDA build fails instead of running on CPU', async () => {
  const c = goldenIndex().cases[0];
  await assert.rejects(loadModel(c.model, { executionProviders: ['cuda'] }),
    (err) => err instanceof ProviderUnavailableError && /execution provider cuda is unavailable/.test(err.message));
});

test('an empty provider list is refused', async () => {
  const c = goldenIndex().cases[0];
  await assert.rejects(loadModel(c.model, { executionProviders: [] }), /executionProviders must be a non-empty list/);
});
