#!/usr/bin/env node
// Copy the repository's export/contract.json (the contract's one source) into src/contract.json, the copy that
// ships inside the crsae-node package. `npm pack` runs this (prepack), so a packed package carries the current
// contract; test/contract.test.js fails when the committed copy differs from the repository's file.
//   node scripts/sync-contract.js           copy (no-op outside the repository, e.g. when installed from a tarball)
//   node scripts/sync-contract.js --check   exit 1 when the copy differs

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = fileURLToPath(new URL('../../../export/contract.json', import.meta.url));
const copy = fileURLToPath(new URL('../src/contract.json', import.meta.url));
if (!existsSync(source)) {
  console.log(`sync-contract: ${source} not found (not inside the crsae repository); keeping src/contract.json`);
  process.exit(0);
}
const want = readFileSync(source);
const same = existsSync(copy) && readFileSync(copy).equals(want);
if (process.argv.includes('--check')) {
  if (!same) {
    console.error(`sync-contract: src/contract.json differs from ${source}; run: node runtimes/node/scripts/sync-contract.js`);
    process.exit(1);
  }
} else if (!same) {
  writeFileSync(copy, want);
  console.log(`sync-contract: copied ${source} to src/contract.json`);
}
