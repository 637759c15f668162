/**
 * Builds the two bundles and the type declarations into dist/, then copies
 * the bundles and declarations to incoming/static/, from where the Python package serves them
 * (so installing the server needs no Node). The output depends only on the
 * sources, package.json and the pinned esbuild: same bytes on every run.
 */
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const jslibDir = dirname(fileURLToPath(import.meta.url));
export const shippedDir = join(jslibDir, '..', 'incoming', 'static');
export const BUNDLES = ['incoming.js', 'incoming.mjs', 'incoming.d.ts'];

/**
 * Writes incoming.js (classic script, global `incoming`), incoming.mjs (ES
 * module) and incoming.d.ts into `outDir`.
 *
 * @param {string} outDir
 */
export async function buildBundles(outDir) {
  const { version } = JSON.parse(await readFile(join(jslibDir, 'package.json'), 'utf8'));
  /** @type {import("esbuild").BuildOptions} */
  const common = {
    absWorkingDir: jslibDir, // module paths in the output are relative to it, wherever the build runs
    bundle: true,
    target: 'es2022',
    charset: 'utf8',
    logLevel: 'warning',
    banner: { js: `/* Incoming!! browser library ${version}. Built from jslib/src with \`npm run build\`; do not edit. */` },
  };
  await mkdir(outDir, { recursive: true });
  const workerSource = await buildHashWorker();
  // The worker's code travels inside each bundle as a string, started from a Blob URL.
  common.define = { INCOMING_HASH_WORKER_SOURCE: JSON.stringify(workerSource) };
  await esbuild.build({
    ...common,
    entryPoints: ['src/script_entry.js'],
    format: 'iife',
    globalName: 'incoming',
    outfile: join(outDir, 'incoming.js'),
  });
  await esbuild.build({
    ...common,
    entryPoints: ['src/module_entry.js'],
    format: 'esm',
    outfile: join(outDir, 'incoming.mjs'),
  });
  await copyFile(join(jslibDir, 'src', 'incoming.d.ts'), join(outDir, 'incoming.d.ts'));
}

/**
 * The hashing Worker (src/hash_worker.js with the hash library) as one
 * self-contained script, minified: it is a string in the bundles, not code
 * anybody reads there.
 *
 * @returns {Promise<string>}
 */
async function buildHashWorker() {
  const result = await esbuild.build({
    absWorkingDir: jslibDir,
    entryPoints: ['src/hash_worker.js'],
    bundle: true,
    format: 'iife',
    target: 'es2022',
    charset: 'utf8',
    minify: true,
    legalComments: 'none',
    write: false,
    logLevel: 'warning',
  });
  return result.outputFiles[0].text;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const distDir = join(jslibDir, 'dist');
  await buildBundles(distDir);
  for (const name of BUNDLES) {
    await copyFile(join(distDir, name), join(shippedDir, name));
  }
}
