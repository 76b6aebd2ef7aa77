import * as path from 'node:path';

// The edit guard's hook runs before every edit an agent makes, so it loads
// only its own small bundle; every other command loads the full CLI.
const entry = process.argv[2] === 'hook' ? 'hook.js' : 'main.js';
// eslint-disable-next-line @typescript-eslint/no-require-imports
require(path.join(__dirname, entry));
