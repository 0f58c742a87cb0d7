import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * A shared secret presented as `Authorization: Bearer <token>`, compared in constant time: both sides are
 * hashed first, so the comparison takes as long whatever was sent (and whatever its length).
 */
export class BearerToken {
  private readonly expected: Buffer;

  constructor(token: string) {
    this.expected = digest(token);
  }

  /** Who presented it, for audit lines: the first 8 hex digits of its SHA-256, which reveal nothing usable. */
  get fingerprint(): string {
    return this.expected.toString('hex').slice(0, 8);
  }

  /** Whether the Authorization header carries this token. */
  isIn(header: string | string[] | undefined): boolean {
    const token = typeof header === 'string' ? /^Bearer (.+)$/i.exec(header)?.[1] : undefined;
    return token !== undefined && timingSafeEqual(digest(token), this.expected);
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
