// Mocha configuration. `npx mocha FILE...` runs just those files; without files it runs the whole
// suite (mocha would otherwise append the files named on the command line to `spec`).
const named = process.argv.slice(2).some((a) => !a.startsWith('-') && /\.test\.ts$/.test(a));

module.exports = {
  extension: ['ts'],
  spec: named ? [] : ['test/**/*.test.ts'],
  'node-option': ['import=./scripts/ts-register.mjs', 'enable-source-maps'],
  timeout: 120000,
  exit: true,
  reporter: './scripts/mocha-reporter.cjs',
};
