// Entry point VS Code calls in its extension host (extensionTestsPath): runs the mocha suites.
import * as path from 'node:path';
import Mocha from 'mocha';

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'tdd', color: false, timeout: 60_000, reporter: 'spec' });
  const only = process.env.SESSION_COORDINATOR_SUITE;
  for (const file of ['extension.test.js', 'restricted.test.js', 'multiRoot.test.js']) {
    if (!only || file.startsWith(only)) mocha.addFile(path.join(__dirname, file));
  }
  return new Promise((resolve, reject) => {
    mocha.run((failures) => (failures > 0 ? reject(new Error(`${failures} extension-host test(s) failed`)) : resolve()));
  });
}
