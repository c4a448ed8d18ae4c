/**
 * Peer `socketio`: the Socket.IO 4 chat server that chat backends are usually built on, doing the
 * same job as Guildhall in each scenario. Run as a child process by the bench:
 * `PORT=… JWT_SECRET=… [DATABASE_URL=…] node --import tsx bench/peers/socketio-server.ts`.
 *
 * - Handshake auth `{token, rooms}`: the HS256 token is verified in a middleware (an authenticated
 *   connection) and the socket joins `rooms` (channel ids; a real server would look memberships up).
 * - `send {room, content, nonce?}, ack`: builds the message (snowflake id), INSERTs it into Postgres
 *   first when DATABASE_URL is set (`messages`, the same table and index as Guildhall's), then
 *   `io.to(room).emit('m', message)` and acks with the message.
 * - `history {room, before?, limit?}, ack`: a page from Postgres, newest first.
 * - GET /health → {"status":"ok","connections":n}
 * - RECOVERY_MS=… (reconnect scenario) turns on Socket.IO's connection state recovery: the server
 *   keeps a dropped socket's id, rooms and data and the room events it missed for that long, and a
 *   client reconnecting with its `pid` and last event offset gets them replayed. Off by default:
 *   it stores every room event and appends its offset to the packet, which the other scenarios do
 *   not need.
 */
import { createServer } from 'node:http';
import pg from 'pg';
import { Server, type Socket } from 'socket.io';
import { SnowflakeGenerator } from '../../protocol/ids.ts';
import { verifyToken } from '../lib/jwt-lite.ts';

const port = Number(process.env.PORT ?? 0);
const host = process.env.HOST ?? '127.0.0.1';
const secret = process.env.JWT_SECRET ?? '';
const databaseUrl = process.env.DATABASE_URL || null;
const recoveryMs = Number(process.env.RECOVERY_MS ?? 0);
if (secret.length < 32) throw new Error('JWT_SECRET of at least 32 characters is required');

interface WireMessage {
  id: string;
  channelId: string;
  guildId: string | null;
  authorId: string;
  content: string;
  createdAt: number;
  nonce: string | null;
}

const ids = new SnowflakeGenerator(1);
const pool = databaseUrl ? new pg.Pool({ connectionString: databaseUrl, max: Number(process.env.PG_POOL ?? 10) }) : null;
pool?.on('error', () => {});

async function migrate(): Promise<void> {
  if (!pool) return;
  await pool.query(`create table if not exists messages (
    id int8 primary key, channel_id int8 not null, guild_id int8, author_id int8 not null,
    content text not null, nonce text, created_at timestamptz not null)`);
  await pool.query('create index if not exists messages_channel_id_idx on messages (channel_id, id desc)');
}

const INSERT = 'insert into messages (id, channel_id, guild_id, author_id, content, nonce, created_at) values ($1, $2, $3, $4, $5, $6, $7)';
const COLUMNS = 'id::text, channel_id::text, guild_id::text, author_id::text, content, nonce, created_at';
/** Two statements rather than `($2 is null or id < $2)`, which would keep Postgres off the index's best plan. */
const HISTORY_NEWEST = `select ${COLUMNS} from messages where channel_id = $1 order by messages.id desc limit $2`;
const HISTORY_BEFORE = `select ${COLUMNS} from messages where channel_id = $1 and messages.id < $2 order by messages.id desc limit $3`;

const http = createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok', connections: io.engine.clientsCount }));
  } else {
    res.writeHead(404).end();
  }
});

const io = new Server(http, {
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: false,
  httpCompression: false,
  ...(recoveryMs > 0 ? { connectionStateRecovery: { maxDisconnectionDuration: recoveryMs, skipMiddlewares: true } } : {}),
});

io.use((socket, next) => {
  const auth = socket.handshake.auth as { token?: unknown; rooms?: unknown };
  const claims = verifyToken(auth.token, secret);
  if (!claims || typeof claims.sub !== 'string') return next(new Error('unauthorized'));
  socket.data.userId = claims.sub;
  socket.data.guildId = typeof claims.gid === 'string' ? claims.gid : null;
  if (Array.isArray(auth.rooms)) for (const r of auth.rooms) if (typeof r === 'string') void socket.join(r);
  next();
});

io.on('connection', (socket: Socket) => {
  socket.on('send', async (m: { room?: unknown; content?: unknown; nonce?: unknown }, ack?: (r: unknown) => void) => {
    if (typeof m?.room !== 'string' || typeof m.content !== 'string' || m.content.length === 0 || m.content.length > 4000) {
      ack?.({ error: 'invalid payload' });
      return;
    }
    const message: WireMessage = {
      id: ids.next(),
      channelId: m.room,
      guildId: socket.data.guildId as string | null,
      authorId: socket.data.userId as string,
      content: m.content,
      createdAt: Date.now(),
      nonce: typeof m.nonce === 'string' ? m.nonce : null,
    };
    try {
      if (pool) {
        await pool.query(INSERT, [message.id, message.channelId, message.guildId, message.authorId, message.content, message.nonce, new Date(message.createdAt)]);
      }
    } catch {
      ack?.({ error: 'storage unavailable' });
      return;
    }
    io.to(m.room).emit('m', message);
    ack?.(message);
  });

  socket.on('history', async (q: { room?: unknown; before?: unknown; limit?: unknown }, ack?: (r: unknown) => void) => {
    if (!pool || typeof q?.room !== 'string') {
      ack?.({ error: 'invalid payload' });
      return;
    }
    const limit = Math.min(100, Math.max(1, Number(q.limit ?? 50) || 50));
    try {
      const rows = typeof q.before === 'string'
        ? await pool.query(HISTORY_BEFORE, [q.room, q.before, limit])
        : await pool.query(HISTORY_NEWEST, [q.room, limit]);
      ack?.(rows.rows.map((r) => ({
        id: r.id, channelId: r.channel_id, guildId: r.guild_id, authorId: r.author_id,
        content: r.content, createdAt: (r.created_at as Date).getTime(), nonce: r.nonce,
      })));
    } catch {
      ack?.({ error: 'storage unavailable' });
    }
  });
});

await migrate();
http.listen(port, host);

const stop = () => {
  io.close();
  void pool?.end();
  setTimeout(() => process.exit(0), 200).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
