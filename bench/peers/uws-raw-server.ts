/**
 * Peer `uws-raw`: a bare uWebSockets.js server, the practical limit on this machine. No auth, no
 * actors, no persistence, no decoding: a socket subscribes to the topics named in its URL, every
 * binary message it sends is published unchanged to its `pub` topic (uWS fans it out in C++), and
 * with `ack=1` it gets a 2-byte msgpack ack `[6]` back (acks are FIFO per socket). Run as a child
 * process by the bench: `PORT=… node --import tsx bench/peers/uws-raw-server.ts`.
 *
 *   ws://127.0.0.1:PORT/ws?sub=t1,t2&pub=t1&ack=1
 *   GET /health → {"status":"ok","connections":n}
 */
import { uws } from '../../engine/gateway/uws.ts';

interface SocketData {
  sub: string[];
  pub: string;
  ack: boolean;
}

const port = Number(process.env.PORT ?? 0);
const host = process.env.HOST ?? '127.0.0.1';
/** Same per-socket backpressure allowance as the Guildhall gateway, so slow-receiver handling matches. */
const maxBackpressure = Number(process.env.MAX_BACKPRESSURE ?? 4 * 1024 * 1024);
const ACK = new Uint8Array([0x91, 0x06]);

let connections = 0;
const app = uws.App();

app.ws<SocketData>('/ws', {
  compression: uws.DISABLED,
  maxPayloadLength: 256 * 1024,
  idleTimeout: 0,
  maxBackpressure,
  upgrade: (res, req, context) => {
    const q = new URLSearchParams(req.getQuery() ?? '');
    const data: SocketData = {
      sub: (q.get('sub') ?? '').split(',').filter(Boolean),
      pub: q.get('pub') ?? '',
      ack: q.get('ack') === '1',
    };
    res.upgrade(data, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
  },
  open: (ws) => {
    connections++;
    for (const t of ws.getUserData().sub) ws.subscribe(t);
  },
  message: (ws, message, isBinary) => {
    const d = ws.getUserData();
    if (d.pub) app.publish(d.pub, message, isBinary);
    if (d.ack) ws.send(ACK, true);
  },
  close: () => {
    connections--;
  },
});

app.get('/health', (res) => {
  res.writeHeader('content-type', 'application/json').end(JSON.stringify({ status: 'ok', connections }));
});

app.listen(host, port, (socket) => {
  if (!socket) {
    process.stderr.write(`uws-raw: cannot listen on ${host}:${port}\n`);
    process.exit(1);
  }
  const stop = () => {
    uws.us_listen_socket_close(socket);
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
});
