/**
 * What a connection costs on the JS heap, by constructor: compares two V8 heap snapshots (from
 * `npm run bench -- connections --heap-snapshots`) and prints the growth of shallow (self) size and
 * object count per `type:name`, divided by the number of connections added. Rows `properties of:X`
 * break the `array:(object properties)` row down by the constructor X of the owning objects (they
 * are not added to the total again).
 * Usage: `tsx bench/heap-diff.ts <baseline.heapsnapshot> <after.heapsnapshot> <connections> [--top 25] [--json]`.
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

export interface Group {
  key: string;
  bytes: number;
  count: number;
}

/** Shallow size and count per `type:name` (for objects, name is the constructor). */
export function groupSnapshot(s: Snapshot): Map<string, Group> {
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const iEdges = fields.indexOf('edge_count');
  const edgeWidth = s.snapshot.meta.edge_fields.length;
  const iTo = s.snapshot.meta.edge_fields.indexOf('to_node');
  const out = new Map<string, Group>();
  const add = (key: string, bytes: number) => {
    const g = out.get(key) ?? { key, bytes: 0, count: 0 };
    g.bytes += bytes;
    g.count++;
    out.set(key, g);
  };
  // Out-of-object property stores ("(object properties)" arrays, large when an object is in
  // dictionary mode) are also attributed to the constructor of the object that holds them.
  let edge = 0;
  for (let i = 0; i < s.nodes.length; i += width) {
    const ownerType = types[s.nodes[i + iType]!];
    const owner = s.strings[s.nodes[i + iName]!] ?? '?';
    const count = s.nodes[i + iEdges]!;
    for (let e = 0; e < count; e++, edge += edgeWidth) {
      const to = s.edges[edge + iTo]!;
      if (types[s.nodes[to + iType]!] === 'array' && s.strings[s.nodes[to + iName]!] === '(object properties)' && ownerType === 'object') {
        add(`properties of:${owner}`, s.nodes[to + iSize]!);
      }
    }
  }
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + iType]!] ?? '?';
    let name = s.strings[s.nodes[i + iName]!] ?? '?';
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string') name = '(string)';
    else if (type === 'number') name = '(heap number)';
    else if (type === 'code') name = '(code)';
    else if (name.length > 60) name = `${name.slice(0, 57)}...`;
    add(`${type}:${name}`, s.nodes[i + iSize]!);
  }
  return out;
}

export function diff(before: Map<string, Group>, after: Map<string, Group>, connections: number): Group[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  const out: Group[] = [];
  for (const key of keys) {
    const a = before.get(key) ?? { key, bytes: 0, count: 0 };
    const b = after.get(key) ?? { key, bytes: 0, count: 0 };
    out.push({ key, bytes: (b.bytes - a.bytes) / connections, count: (b.count - a.count) / connections });
  }
  return out.sort((x, y) => y.bytes - x.bytes);
}

function main(): void {
  const [beforeFile, afterFile, n] = process.argv.slice(2);
  if (!beforeFile || !afterFile || !n) {
    process.stderr.write('usage: tsx bench/heap-diff.ts <baseline.heapsnapshot> <after.heapsnapshot> <connections> [--top 25] [--json]\n');
    process.exit(2);
  }
  const topIdx = process.argv.indexOf('--top');
  const top = topIdx > 0 ? Number(process.argv[topIdx + 1]) : 25;
  const load = (f: string) => groupSnapshot(JSON.parse(readFileSync(f, 'utf8')) as Snapshot);
  const rows = diff(load(beforeFile), load(afterFile), Number(n));
  const total = rows.filter((r) => !r.key.startsWith('properties of:')).reduce((s, r) => s + r.bytes, 0);
  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify({ bytesPerConnection: Math.round(total), top: rows.slice(0, top) })}\n`);
    return;
  }
  process.stdout.write(`heap growth per connection: ${total.toFixed(0)} B (shallow sizes)\n\n  B/conn  objects/conn  type:name\n`);
  for (const r of rows.slice(0, top)) {
    process.stdout.write(`${r.bytes.toFixed(1).padStart(8)}  ${r.count.toFixed(2).padStart(12)}  ${r.key}\n`);
  }
}

if (process.argv[1]?.endsWith('heap-diff.ts')) main();
