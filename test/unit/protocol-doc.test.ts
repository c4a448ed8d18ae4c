/**
 * Keeps protocol/PROTOCOL.md and protocol/opcodes.ts from drifting apart: the wire tables in the
 * document must list exactly the entries of the objects in code, with the same numbers and names,
 * and every hex example must decode (with protocol/codec.ts) to the JSON printed under it.
 *
 * Table format (chosen to be trivial to parse): a checked table is introduced by an HTML comment
 * on its own line, `<!-- table:NAME -->`, directly followed by a GitHub pipe table. Every row after
 * the header and the `|---|` separator is one entry; the table ends at the first line that does
 * not start with `|`. Cell 1 is the wire value in backticks (`5`, `guild.create`), cell 2 the code
 * constant in backticks as `Object.KEY` (`Op.REQUEST`). Cells never contain a `|`. The error table
 * has a 4th cell `yes`/`no` (retryable), the close table a 4th, 5th and 6th (reconnect, re-identify, resume).
 *
 * Examples: every ```hex fenced block (bytes as hex pairs, any whitespace) must be followed by a
 * ```json block holding the decoded value.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { decode } from '../../protocol/codec.ts';
import {
  ChannelType, CLOSE_BEHAVIOUR, CloseCode, ErrorCode, EventType, Method, Op, PROTOCOL_VERSION, RETRYABLE_ERRORS, StreamKind,
  type CloseCodeValue,
} from '../../protocol/opcodes.ts';

const DOC = readFileSync(new URL('../../protocol/PROTOCOL.md', import.meta.url), 'utf8');
const LINES = DOC.split('\n');

interface Row {
  value: string;
  object: string;
  key: string;
  cells: string[];
}

const unquote = (cell: string) => cell.replace(/^`(.*)`$/, '$1');

/** The rows of the table marked `<!-- table:name -->`. */
function table(name: string): Row[] {
  const marker = `<!-- table:${name} -->`;
  const at = LINES.map((l) => l.trim()).flatMap((l, i) => (l === marker ? [i] : []));
  assert.equal(at.length, 1, `PROTOCOL.md must contain the marker ${marker} exactly once`);
  const rows: Row[] = [];
  let i = at[0]! + 1;
  assert.ok(LINES[i]?.startsWith('|'), `${marker} must be directly followed by a table`);
  assert.match(LINES[i + 1] ?? '', /^\|[\s:|-]+\|$/, `${marker}: the second table line must be the |---| separator`);
  for (i += 2; i < LINES.length && LINES[i]!.startsWith('|'); i++) {
    const cells = LINES[i]!.split('|').slice(1, -1).map((c) => c.trim());
    const m = /^`(\w+)\.(\w+)`$/.exec(cells[1] ?? '');
    assert.ok(m, `${marker} line ${i + 1}: the second cell must be \`Object.KEY\`, got ${cells[1]}`);
    rows.push({ value: unquote(cells[0] ?? ''), object: m[1]!, key: m[2]!, cells });
  }
  assert.ok(rows.length > 0, `${marker} has no rows`);
  return rows;
}

/** Table rows as a {KEY: value} object, checking the object name and that no key repeats. */
function entries(name: string, object: string, numeric: boolean): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const row of table(name)) {
    assert.equal(row.object, object, `table ${name}: ${row.object}.${row.key} should be ${object}.${row.key}`);
    assert.ok(!(row.key in out), `table ${name}: ${row.key} is listed twice`);
    const value = numeric ? Number(row.value) : row.value;
    if (numeric) assert.ok(/^\d+$/.test(row.value), `table ${name}: ${row.key} has value ${row.value}, not an integer`);
    out[row.key] = value;
  }
  return out;
}

/** Asserts that a documented table equals the code's object, naming what is missing or extra. */
function assertMirrors(name: string, documented: Record<string, string | number>, code: Record<string, string | number>): void {
  const missing = Object.keys(code).filter((k) => !(k in documented)).map((k) => `${k} = ${JSON.stringify(code[k])}`);
  const extra = Object.keys(documented).filter((k) => !(k in code));
  const wrong = Object.keys(code).filter((k) => k in documented && documented[k] !== code[k]).map((k) => `${k}: doc ${JSON.stringify(documented[k])}, code ${JSON.stringify(code[k])}`);
  assert.ok(
    missing.length === 0 && extra.length === 0 && wrong.length === 0,
    `PROTOCOL.md table ${name} is out of step with protocol/opcodes.ts:` +
      (missing.length ? `\n  missing from the doc: ${missing.join(', ')}` : '') +
      (extra.length ? `\n  not in the code: ${extra.join(', ')}` : '') +
      (wrong.length ? `\n  different values: ${wrong.join('; ')}` : ''),
  );
  assert.deepEqual(documented, code);
}

const yesNo = (cell: string | undefined, where: string): boolean => {
  assert.ok(cell === 'yes' || cell === 'no', `${where}: expected yes or no, got ${cell}`);
  return cell === 'yes';
};

describe('PROTOCOL.md mirrors protocol/opcodes.ts', () => {
  it('names the protocol version', () => {
    assert.match(LINES[0] ?? '', new RegExp(`^# .*version ${PROTOCOL_VERSION}$`));
  });

  it('opcode table equals Op', () => {
    assertMirrors('opcodes', entries('opcodes', 'Op', true), { ...Op });
  });

  it('event type table equals EventType', () => {
    assertMirrors('event-types', entries('event-types', 'EventType', false), { ...EventType });
  });

  it('method table equals Method', () => {
    assertMirrors('methods', entries('methods', 'Method', false), { ...Method });
  });

  it('error code table equals ErrorCode, with the retryable column matching RETRYABLE_ERRORS', () => {
    assertMirrors('error-codes', entries('error-codes', 'ErrorCode', true), { ...ErrorCode });
    for (const row of table('error-codes')) {
      assert.equal(yesNo(row.cells[3], `error ${row.key} retryable`), RETRYABLE_ERRORS.has(Number(row.value)), `error ${row.key} retryable`);
    }
  });

  it('close code table equals CloseCode, with reconnect/re-identify/resume matching CLOSE_BEHAVIOUR', () => {
    assertMirrors('close-codes', entries('close-codes', 'CloseCode', true), { ...CloseCode });
    for (const row of table('close-codes')) {
      const expected = CLOSE_BEHAVIOUR[Number(row.value) as CloseCodeValue];
      assert.ok(expected, `close ${row.key} has no CLOSE_BEHAVIOUR entry`);
      assert.equal(yesNo(row.cells[3], `close ${row.key} reconnect`), expected.reconnect, `close ${row.key} reconnect`);
      assert.equal(yesNo(row.cells[4], `close ${row.key} re-identify`), expected.reidentify, `close ${row.key} re-identify`);
      assert.equal(yesNo(row.cells[5], `close ${row.key} resume`), expected.resume, `close ${row.key} resume`);
    }
  });

  it('channel type and stream kind tables equal ChannelType and StreamKind', () => {
    assertMirrors('channel-types', entries('channel-types', 'ChannelType', true), { ...ChannelType });
    assertMirrors('stream-kinds', entries('stream-kinds', 'StreamKind', false), { ...StreamKind });
  });

  it('documents every method in a section of its own', () => {
    for (const method of Object.values(Method)) {
      assert.ok(LINES.includes(`### \`${method}\``), `PROTOCOL.md has no "### \`${method}\`" section`);
    }
  });
});

describe('PROTOCOL.md examples', () => {
  const blocks = [...DOC.matchAll(/```hex\n([\s\S]*?)```\s*```json\n([\s\S]*?)```/g)];

  it('every hex block is followed by its decoded JSON', () => {
    const hexBlocks = DOC.match(/```hex\n/g) ?? [];
    assert.ok(hexBlocks.length >= 6, 'expected at least 6 hex examples');
    assert.equal(blocks.length, hexBlocks.length, 'a ```hex block is not directly followed by a ```json block');
  });

  for (const [, hex, json] of blocks) {
    const compact = hex!.replace(/\s+/g, '');
    it(`${compact.slice(0, 24)}… decodes to the JSON shown`, () => {
      assert.match(compact, /^([0-9a-f]{2})+$/, 'hex must be pairs of lowercase hex digits');
      const value = decode(Uint8Array.from(Buffer.from(compact, 'hex')));
      assert.deepEqual(value, JSON.parse(json!));
      assert.ok(Array.isArray(value) && Object.values(Op).includes(value[0] as never), 'an example frame starts with a known opcode');
    });
  }
});
