// `node --import ./scripts/ts-register.mjs file.ts` runs TypeScript sources directly (tests, scripts).
import { register } from 'node:module';

register('./ts-hooks.mjs', import.meta.url);
