/**
 * A connection to the `uws-raw` peer. No handshake beyond the upgrade. A sender's message is the
 * msgpack frame `[8, ["MESSAGE_CREATE", stream, 0, seq, message]]` — the shape and size of a
 * Guildhall MESSAGE_CREATE dispatch — which the peer publishes unchanged; acks `[6]` come back in
 * send order, so they are matched FIFO.
 */
import { decode, encode } from '../../protocol/codec.ts';
import { EventType, Op } from '../../protocol/opcodes.ts';
import { Conn, hrMs, messageContent } from './conn.ts';
import { arrayHead } from './guildhall-conn.ts';

const FAKE_ID = '7412345678901234567';

export class UwsRawConn extends Conn {
  private readonly sentTimes: number[] = [];
  private readonly sentSeqs: number[] = [];
  private head = 0;

  protected onUpgraded(): void {
    this.markReady();
  }

  classify(buf: Buffer, start: number, len: number): number {
    const b = buf[start]!;
    if ((b & 0xf0) === 0x90 && len >= 2 && buf[start + 1] === Op.DISPATCH && this.role !== 'probe') return (b & 0x0f) - 1;
    return -1;
  }

  full(payload: Buffer): void {
    const h = arrayHead(payload, 0, payload.length);
    if (!h) return this.error('frame is not a msgpack array');
    if (h.op === Op.OK) return this.settle();
    if (h.op === Op.DISPATCH) {
      return this.probeFrame(payload, h.count - 1, () => {
        const frame = decode(payload) as [number, ...[string, string, number, number, { content?: unknown }][]];
        return frame.slice(1).map((e) => (e as [string, string, number, number, { content?: unknown }])[4]?.content);
      });
    }
  }

  sendMessage(seq: number, sentAtMs: number, contentSize: number): void {
    const channelId = this.spec.target?.channelId ?? '1';
    const message = {
      id: FAKE_ID,
      channelId,
      guildId: this.spec.target?.guildId ?? FAKE_ID,
      authorId: FAKE_ID,
      content: messageContent(sentAtMs, seq, contentSize),
      createdAt: Date.now(),
      nonce: null,
    };
    this.sentTimes.push(sentAtMs);
    this.sentSeqs.push(seq);
    this.inflight++;
    this.ws!.sendBinary(encode([Op.DISPATCH, [EventType.MESSAGE_CREATE, `g:${message.guildId}`, 0, seq, message]]));
  }

  requestHistory(): void {
    throw new Error('uws-raw has no history (no persistence)');
  }

  private settle(): void {
    if (this.head >= this.sentTimes.length) return;
    const seq = this.sentSeqs[this.head]!;
    if (seq > this.lastAckedSeq) this.lastAckedSeq = seq;
    const sentAt = this.sentTimes[this.head++]!;
    if (this.head > 4096 && this.head * 2 > this.sentTimes.length) {
      this.sentTimes.splice(0, this.head);
      this.sentSeqs.splice(0, this.head);
      this.head = 0;
    }
    this.inflight--;
    this.counters.acks++;
    this.host.acked(this, sentAt, hrMs(), true);
  }
}
