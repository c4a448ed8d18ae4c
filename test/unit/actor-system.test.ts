import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { ActorSystem, later, type ActorSystemOptions, type Behaviour } from '../../engine/actors/actor-system.ts';

const logger = pino({ level: 'silent' });

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

type Cmd =
  | { type: 'inc' }
  | { type: 'boom' }
  | { type: 'wait'; gate: Promise<void> }
  | { type: 'later'; reply: Promise<string> }
  | { type: 'clear' };

/** A counter actor per id; records what the runtime does to it. */
function counters() {
  const hydrated: string[] = [];
  const evicted: string[] = [];
  const log: string[] = [];
  const factory = async (id: string): Promise<Behaviour<Cmd>> => {
    hydrated.push(id);
    let count = 0;
    return {
      async handle(cmd) {
        log.push(`${id}:${cmd.type}:start`);
        try {
          switch (cmd.type) {
            case 'inc':
              return ++count;
            case 'boom':
              count += 100; // a throwing command's partial change stays: the actor owns its state
              throw new Error('boom');
            case 'wait':
              await cmd.gate;
              return ++count;
            case 'later':
              return later(cmd.reply);
            case 'clear':
              count = 0;
              return count;
          }
        } finally {
          log.push(`${id}:${cmd.type}:end`);
        }
      },
      isVacant: () => count === 0,
      onEvict: () => void evicted.push(id),
    };
  };
  return { hydrated, evicted, log, factory };
}

let system: ActorSystem | null = null;
afterEach(() => system?.close());

function setup(opts: Partial<ActorSystemOptions> = {}) {
  // lru-cache treats a start time of 0 as "no TTL", so the fake clock starts well above 0.
  const clock = { t: 1_000_000, now() { return this.t; } };
  system = new ActorSystem({ maxIdle: 100, idleMs: 60_000, clock, logger, ...opts });
  const c = counters();
  system.register('counter', c.factory);
  const ask = (id: string, cmd: Cmd) => system!.ask<number | string>('counter', id, cmd);
  return { system, clock, ask, ...c };
}

/** lru-cache reuses its last clock reading for ttlResolution (1 ms of real time); let it lapse. */
const purge = async (s: ActorSystem) => {
  await sleep(5);
  (s as any).idle.purgeStale();
};

describe('ActorSystem mailbox', () => {
  it('runs the commands of one actor one at a time, in arrival order', async () => {
    const hydrated: string[] = [];
    const log: string[] = [];
    const s = (system = new ActorSystem({ maxIdle: 10, idleMs: 60_000, clock: { now: () => 1_000_000 }, logger }));
    s.register('slow', async (id) => {
      hydrated.push(id);
      return {
        async handle(n: number) {
          log.push(`start ${n}`);
          await sleep(Math.floor(Math.random() * 4));
          log.push(`end ${n}`);
          return n * 10;
        },
      };
    });
    const replies = await Promise.all(Array.from({ length: 15 }, (_, n) => s.ask('slow', 'a', n)));
    assert.deepEqual(replies, Array.from({ length: 15 }, (_, n) => n * 10));
    assert.deepEqual(log, Array.from({ length: 15 }, (_, n) => [`start ${n}`, `end ${n}`]).flat());
    assert.deepEqual(hydrated, ['a']);
  });

  it('runs different actors concurrently', async () => {
    const { ask, log } = setup();
    const gate = deferred();
    const blocked = ask('a', { type: 'wait', gate: gate.promise });
    assert.equal(await ask('b', { type: 'inc' }), 1); // b answers while a is still waiting
    assert.deepEqual(log, ['a:wait:start', 'b:inc:start', 'b:inc:end']);
    gate.resolve();
    assert.equal(await blocked, 1);
  });

  it('a throwing command rejects only its own ask; the next command runs with the state kept', async () => {
    const { ask, hydrated } = setup();
    const [first, failed, third] = await Promise.allSettled([ask('a', { type: 'inc' }), ask('a', { type: 'boom' }), ask('a', { type: 'inc' })]);
    assert.deepEqual(first, { status: 'fulfilled', value: 1 });
    assert.equal(failed.status, 'rejected');
    assert.equal((failed as PromiseRejectedResult).reason.message, 'boom');
    assert.deepEqual(third, { status: 'fulfilled', value: 102 });
    assert.deepEqual(hydrated, ['a']);
  });

  it('later(promise) replies after the mailbox has moved on', async () => {
    const { ask, log } = setup();
    const reply = deferred<string>();
    let settled = false;
    const first = ask('a', { type: 'later', reply: reply.promise }).then((v) => ((settled = true), v));
    assert.equal(await ask('a', { type: 'inc' }), 1);
    assert.deepEqual(log, ['a:later:start', 'a:later:end', 'a:inc:start', 'a:inc:end']);
    assert.equal(settled, false, 'the later reply must wait for its promise');
    reply.resolve('committed');
    assert.equal(await first, 'committed');

    const failing = deferred<string>();
    const rejected = ask('a', { type: 'later', reply: failing.promise });
    failing.reject(new Error('commit failed'));
    await assert.rejects(rejected, /commit failed/);
  });
});

describe('ActorSystem hydration', () => {
  it('a failed hydration rejects every queued ask and the next ask retries the factory', async () => {
    const s = (system = new ActorSystem({ maxIdle: 10, idleMs: 60_000, clock: { now: () => 1_000_000 }, logger }));
    let calls = 0;
    const gate = deferred();
    s.register('flaky', async () => {
      calls++;
      if (calls === 1) {
        await gate.promise;
        throw new Error('storage down');
      }
      return { handle: (cmd: string) => `handled ${cmd}` };
    });
    const a = s.ask('flaky', '1', 'x');
    const b = s.ask('flaky', '1', 'y');
    gate.resolve();
    await assert.rejects(a, /storage down/);
    await assert.rejects(b, /storage down/);
    assert.equal(s.size, 0);
    assert.equal(await s.ask('flaky', '1', 'z'), 'handled z');
    assert.equal(calls, 2);
  });

  it('an unknown kind rejects the ask', async () => {
    const { system: s } = setup();
    await assert.rejects(s.ask('nope', '1', {}), /no actor kind 'nope'/);
  });
});

describe('ActorSystem eviction', () => {
  it('drops an actor idle for longer than idleMs and rehydrates it on the next ask', async () => {
    const { system: s, clock, ask, hydrated, evicted } = setup({ idleMs: 10_000 });
    assert.equal(await ask('a', { type: 'inc' }), 1);
    assert.equal(await ask('a', { type: 'inc' }), 2);
    clock.t += 9_000;
    await purge(s);
    assert.deepEqual(evicted, [], 'not idle long enough yet');
    assert.equal(s.size, 1);

    clock.t += 1_001;
    await purge(s);
    assert.deepEqual(evicted, ['a']);
    assert.equal(s.size, 0);
    assert.equal(await ask('a', { type: 'inc' }), 1, 'state is reloaded, not kept');
    assert.deepEqual(hydrated, ['a', 'a']);
    assert.deepEqual(evicted, ['a'], 'onEvict runs once per eviction');
  });

  it('keeps at most maxIdle idle actors, evicting the least recently used', async () => {
    const { system: s, ask, hydrated, evicted } = setup({ maxIdle: 2 });
    await ask('a', { type: 'inc' });
    await ask('b', { type: 'inc' });
    await ask('c', { type: 'inc' });
    assert.deepEqual(evicted, ['a']);
    assert.equal(s.size, 2);
    assert.equal(await ask('b', { type: 'inc' }), 2, 'b kept its state');
    assert.equal(await ask('a', { type: 'inc' }), 1, 'a was rehydrated');
    assert.deepEqual(hydrated, ['a', 'b', 'c', 'a']);
    assert.deepEqual(evicted, ['a', 'c'], 'c had become the least recently used');
  });

  it('never evicts an actor while its mailbox is not empty', async () => {
    const { system: s, clock, ask, hydrated, evicted } = setup({ maxIdle: 1, idleMs: 1_000 });
    const gate = deferred();
    const first = ask('busy', { type: 'wait', gate: gate.promise });
    const second = ask('busy', { type: 'inc' });
    for (const id of ['x', 'y', 'z']) await ask(id, { type: 'inc' });
    clock.t += 60_000;
    await purge(s);
    assert.deepEqual(evicted, ['x', 'y', 'z']);
    assert.equal(s.size, 1);
    gate.resolve();
    assert.equal(await first, 1);
    assert.equal(await second, 2);
    assert.equal(await ask('busy', { type: 'inc' }), 3, 'state survived');
    assert.equal(hydrated.filter((id) => id === 'busy').length, 1);
    assert.ok(!evicted.includes('busy'));
  });

  it('drops a vacant actor as soon as its mailbox drains', async () => {
    const { system: s, ask, hydrated, evicted } = setup();
    assert.equal(await ask('v', { type: 'inc' }), 1);
    assert.equal(s.size, 1);
    assert.equal(await ask('v', { type: 'clear' }), 0);
    assert.deepEqual(evicted, ['v']);
    assert.equal(s.size, 0);
    assert.equal(await ask('v', { type: 'inc' }), 1);
    assert.deepEqual(hydrated, ['v', 'v']);
  });
});
