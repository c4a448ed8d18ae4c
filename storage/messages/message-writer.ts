import { GroupCommitWriter, type GroupCommitOptions } from '../group-commit-writer.ts';
import type { MessageStore } from '../ports.ts';
import type { MessageRecord } from '../records.ts';

export { WriterClosedError as MessageWriterClosedError } from '../group-commit-writer.ts';
export type MessageWriterOptions = GroupCommitOptions;

/**
 * Group commit of messages: write() resolves only after the COMMIT that contains the message, with
 * true, or with false when a message with the same (channel, author, nonce) already existed.
 */
export class MessageWriter extends GroupCommitWriter<MessageRecord, boolean> {
  constructor(store: MessageStore, opts: GroupCommitOptions = {}) {
    super('message', (rows) => store.insertMany(rows), opts);
  }
}
