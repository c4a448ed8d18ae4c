export { GuildhallClient, type ClientOptions, type WebSocketCtor, type WebSocketLike } from './guildhall-client.ts';
export { auth, type AccountUser, type SessionInfo, type TokenPair } from './http-auth.ts';
export { ConnectionClosedError, GuildhallError, GuildhallHttpError } from './errors.ts';
export { users } from './http-users.ts';
export * from '../opcodes.ts';
export type * from '../types.ts';
