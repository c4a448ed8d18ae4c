/**
 * Which peers may tell us the client's address. Behind a load balancer every connection comes
 * from the balancer, and the client's address is in X-Forwarded-For — a header any client can also
 * send. So the header is read only when the direct peer is a configured proxy (TRUSTED_PROXIES),
 * and only as far as the chain of configured proxies goes: walking from the right (the entry the
 * nearest proxy appended), the first address that is not a trusted proxy is the client.
 */
import { BlockList, isIP } from 'node:net';

const MAPPED_V4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/** Plain-text IP in the canonical form formatIp produces (IPv4-mapped IPv6 becomes dotted IPv4); null if not an IP. */
export function normalizeIp(text: string): string | null {
  let ip = text.trim();
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  const mapped = MAPPED_V4.exec(ip);
  if (mapped) ip = mapped[1]!;
  return isIP(ip) === 0 ? null : ip.toLowerCase();
}

export class TrustedProxies {
  private readonly list = new BlockList();
  readonly size: number;

  /** @param cidrs IP addresses or CIDRs ("10.0.0.0/8", "::1", "fd00::/8"), already validated by config. */
  constructor(cidrs: readonly string[]) {
    for (const entry of cidrs) {
      const [addr, bits] = entry.split('/') as [string, string | undefined];
      const family = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.list.addAddress(addr, family);
      else this.list.addSubnet(addr, Number(bits), family);
    }
    this.size = cidrs.length;
  }

  /** True if `ip` is one of the configured proxies. */
  has(ip: string): boolean {
    const n = normalizeIp(ip);
    if (this.size === 0 || n === null) return false;
    return this.list.check(n, isIP(n) === 6 ? 'ipv6' : 'ipv4');
  }

  /**
   * The client's address, given the direct peer and the X-Forwarded-For header. The peer itself
   * unless it is a trusted proxy; then the right-most forwarded address that is not a trusted
   * proxy (or the left-most one if all are). A malformed entry ends the walk at the last hop
   * that could be trusted.
   */
  clientIp(peer: string, forwardedFor: string): string {
    if (!this.has(peer)) return peer;
    const hops = forwardedFor.split(',');
    let ip = peer;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = normalizeIp(hops[i]!);
      if (hop === null) return ip;
      ip = hop;
      if (!this.has(hop)) return hop;
    }
    return ip;
  }
}
