/** Starts a system under test by name. */
import { startGuildhall } from './guildhall.ts';
import type { SystemName } from './server-process.ts';
import { startSocketio } from './socketio.ts';
import type { RunningSystem, StartOptions } from './system.ts';
import { startUwsRaw } from './uws-raw.ts';

export function startSystem(name: SystemName, opts: StartOptions): Promise<RunningSystem> {
  switch (name) {
    case 'guildhall':
      return startGuildhall(opts);
    case 'uws-raw':
      return startUwsRaw(opts);
    case 'socketio':
      return startSocketio(opts);
  }
}

export { SYSTEMS, type SystemName } from './server-process.ts';
export type { RunningSystem, StartOptions, World, Group, Identity } from './system.ts';
