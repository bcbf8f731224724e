/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS require hook, loaded with `node -r` */
// Lets a plain `node` child process load this package's TypeScript sources (the tests' fixtures
// run `node -r ./src/testing/register-ts.cjs src/testing/<fixture>.ts`): SWC strips the types,
// package imports resolve to the other libraries' built dist/ as in production.
const { readFileSync } = require('node:fs');
const { transformSync } = require('@swc/core');

require.extensions['.ts'] = function compileTypeScript(module, filename) {
  const { code } = transformSync(readFileSync(filename, 'utf8'), {
    filename,
    sourceMaps: 'inline',
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
  });
  module._compile(code, filename);
};
