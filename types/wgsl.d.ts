/** `.wgsl` kernel sources are imported as text (esbuild's text loader; scripts/ts-hooks.mjs in tests). */
declare module '*.wgsl' {
  const source: string;
  export default source;
}

/** wgsl_reflect's package.json points `main` at a CommonJS file under `"type": "module"`; the ESM build is imported directly. */
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
