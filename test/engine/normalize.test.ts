import { normalizePath } from '../../policies/engine/index.js';

describe('normalizePath', () => {
  it.each([
    ['/app/%2E./admin', 'BASE', '/admin'],
    ['/app\\admin', 'BASE', '/app/admin'],
    ['/a/./b/../c', 'BASE', '/a/c'],
    ['/a/%2d%5f%7e%41', 'BASE', '/a/-_~A'],
    ['/a%2fb', 'BASE', '/a%2fb'],
    ['/a%5Cb', 'BASE', '/a%5Cb'],
    ['//a//b', 'BASE', '//a//b'],
    ['//a//b', 'MERGE_SLASHES', '/a/b'],
    ['/a%2F%2Fb', 'DECODE_AND_MERGE_SLASHES', '/a/b'],
    ['/a%5c..%5cadmin', 'DECODE_AND_MERGE_SLASHES', '/admin'],
    ['/a/../b?q=1', 'NONE', '/a/../b'],
    ['/ADMIN;x=1', 'BASE', '/ADMIN;x=1'],
    ['/%252e%252e/admin', 'BASE', '/%252e%252e/admin'],
    ['/..;/admin', 'BASE', '/..;/admin'],
    ['/p?x=/../y', 'BASE', '/p'],
    // the canonicalizer percent-encodes these (seen on a real Envoy); `[`, `]` and `*` stay
    ['/a^b`c{d}e|f"g<h>', 'BASE', '/a%5Eb%60c%7Bd%7De%7Cf%22g%3Ch%3E'],
    ['/a{b}', 'DECODE_AND_MERGE_SLASHES', '/a%7Bb%7D'],
    ['/a[b]*', 'BASE', '/a[b]*'],
    ['/a{b}', 'NONE', '/a{b}'],
  ] as const)('%s under %s → %s', (raw, mode, expected) => {
    expect(normalizePath(raw, mode)).toBe(expected);
  });

  it('rejects %00 (Envoy answers 400)', () => {
    expect(normalizePath('/a%00b', 'BASE')).toBeNull();
  });
});
