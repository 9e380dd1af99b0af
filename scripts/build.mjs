// Bundles the CLI into dist/webprune.mjs with esbuild; WGSL kernels are inlined as text.
// Native bindings (webgpu: Dawn; onnxruntime-node; koffi) stay external: they load a platform .node file at run time.
import { chmodSync } from 'node:fs';
import { build } from 'esbuild';

await build({
  entryPoints: ['cli/webprune.ts'],
  outfile: 'dist/webprune.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  loader: { '.wgsl': 'text' },
  external: ['webgpu', 'onnxruntime-node', 'koffi'],
  // CommonJS dependencies inside an ESM bundle need require().
  banner: { js: "#!/usr/bin/env node\nimport { createRequire as __createRequire } from 'node:module';\nconst require = __createRequire(import.meta.url);" },
  logLevel: 'warning',
});
chmodSync('dist/webprune.mjs', 0o755);
