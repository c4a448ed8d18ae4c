/**
 * Compiled Guildhall for `--engine build`: the production form (`tsc -p tsconfig.build.json`, plain
 * JavaScript under node) instead of TypeScript through tsx. tsx's esbuild transform keeps function
 * names by wrapping closures in `__name(fn, "…")`, which gives every closure instance its own
 * property store (~256 B); per-connection closures make that visible in memory per connection.
 * Built once per bench run into `.bench-out/build/` (git-ignored), next to node_modules.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './server-process.ts';

const run = promisify(execFile);
export const BUILD_DIR = path.join(REPO_ROOT, '.bench-out', 'build');

export interface GuildhallBuild {
  /** Compiled engine/main.js. */
  main: string;
  /** Compiled heap probe, preloaded with --import. */
  probe: string;
}

let building: Promise<GuildhallBuild> | null = null;

export function buildGuildhall(): Promise<GuildhallBuild> {
  building ??= (async () => {
    const tsc = path.join(REPO_ROOT, 'node_modules', '.bin', 'tsc');
    await run(tsc, ['-p', 'tsconfig.build.json', '--outDir', BUILD_DIR, '--sourceMap', 'false'], { cwd: REPO_ROOT });
    await run(
      tsc,
      ['--ignoreConfig', 'bench/probes/heap-probe.ts', '--outDir', path.join(BUILD_DIR, 'probes'), '--module', 'nodenext',
        '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--skipLibCheck'],
      { cwd: REPO_ROOT },
    );
    return { main: path.join(BUILD_DIR, 'engine', 'main.js'), probe: path.join(BUILD_DIR, 'probes', 'heap-probe.js') };
  })();
  return building;
}
