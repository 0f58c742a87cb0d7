import { loadConfig } from '../../src/config/config';
import { resolveMaxConnections } from '../../src/http/http-server';
import { MAX_BODY_DEPTH, nestsDeeperThan } from '../../src/http/json-body';

describe('HTTP limits', () => {
  it('keeps an automatic connection cap below the descriptor limit, leaving room for the pool', () => {
    const config = loadConfig({ DB_POOL_MAX: '20' });
    expect(resolveMaxConnections(config, 1_024)).toBe(1_024 - 256 - 20);
    expect(resolveMaxConnections(config, 1_048_576)).toBe(10_000);
    expect(resolveMaxConnections(config, 200)).toBe(64);
    expect(resolveMaxConnections(config, undefined)).toBe(10_000);
    expect(resolveMaxConnections(loadConfig({ HTTP_MAX_CONNECTIONS: '500' }), 1_024)).toBe(500);
  });

  it('measures nesting without recursion, at any depth', () => {
    const nest = (depth: number) => {
      let value: unknown = 1;
      for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { a: value };
      return value;
    };
    expect(nestsDeeperThan({ userId: 1 }, MAX_BODY_DEPTH)).toBe(false);
    expect(nestsDeeperThan(nest(MAX_BODY_DEPTH), MAX_BODY_DEPTH)).toBe(false);
    expect(nestsDeeperThan(nest(MAX_BODY_DEPTH + 1), MAX_BODY_DEPTH)).toBe(true);
    expect(nestsDeeperThan(nest(100_000), MAX_BODY_DEPTH)).toBe(true);
    expect(nestsDeeperThan('text', 0)).toBe(false);
  });
});
