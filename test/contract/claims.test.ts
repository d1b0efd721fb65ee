import {
  claimKey,
  claimStrings,
  compileConditions,
  conditionsHold,
  decodeClaimPath,
  encodeClaimPath,
  parseClaimKey,
  tokenValues,
} from '../../contract/claims.js';

describe('claim keys', () => {
  test.each([
    [['realm_access', 'roles'], 'request.auth.claims[realm_access][roles]'],
    [['groups'], 'request.auth.claims[groups]'],
    [['https://shop.example.com/roles'], 'request.auth.claims[https://shop.example.com/roles]'],
  ])('GIVEN the path %j THEN the key is %s and parses back', (path, key) => {
    expect(claimKey(path)).toBe(key);
    expect(parseClaimKey(key)).toEqual(path);
  });

  test('throws when a claim name holds a bracket', () => {
    expect(() => claimKey(['a[0]'])).toThrow(
      "claim name 'a[0]' must be non-empty, without '[' or ']' or surrounding spaces",
    );
  });

  test('GIVEN a name with dots THEN the env form is a JSON array, else a dotted path; both decode back', () => {
    expect(encodeClaimPath(['realm_access', 'roles'])).toBe('realm_access.roles');
    expect(encodeClaimPath(['https://x.example/roles'])).toBe('["https://x.example/roles"]');
    expect(decodeClaimPath('realm_access.roles')).toEqual(['realm_access', 'roles']);
    expect(decodeClaimPath('["https://x.example/roles"]')).toEqual(['https://x.example/roles']);
  });

  test.each([
    ['[oops', "'[oops' is neither a dotted claim path nor a JSON array of names"],
    ['[1]', "'[1]' must be a JSON array of claim names"],
    ['a..b', "'a..b': claim name '' must be non-empty"],
  ])('throws when the env form %s is bad, naming it', (text, message) => {
    expect(() => decodeClaimPath(text)).toThrow(message);
  });
});

describe('claim values as Istio compares them', () => {
  const claims = {
    iss: 'https://i',
    sub: 'u/1',
    azp: 'web',
    aud: ['a', 'b'],
    scope: 'openid admin:read',
    groups: 'x y',
    realm_access: { roles: ['USER', 7] },
    level: 3,
  };

  test('a list gives its strings; scope is split on spaces; other strings only when space-delimited', () => {
    expect(claimStrings(claims, ['realm_access', 'roles'])).toEqual(['USER']);
    expect(claimStrings(claims, ['scope'])).toEqual(['openid', 'admin:read']);
    expect(claimStrings(claims, ['groups'])).toEqual(['x y']);
    expect(claimStrings(claims, ['groups'], new Set(['groups']))).toEqual(['x', 'y']);
    expect(claimStrings(claims, ['level'])).toEqual([]);
    expect(claimStrings(claims, ['missing'])).toBeUndefined();
  });

  test('presenter, audiences and the request principal come from azp, aud and iss/sub', () => {
    expect(tokenValues('request.auth.presenter', claims)).toEqual(['web']);
    expect(tokenValues('request.auth.audiences', claims)).toEqual(['a', 'b']);
    expect(tokenValues('request.auth.principal', claims)).toEqual(['https://i/u/1']);
    expect(tokenValues('request.headers[x]', claims)).toBeUndefined();
  });

  test('conditions are ANDed, values ORed, with exact, prefix, suffix and presence matches', () => {
    const roles = 'request.auth.claims[realm_access][roles]';
    expect(conditionsHold([{ key: roles, values: ['ADMIN', 'USER'] }], claims)).toBe(true);
    expect(
      conditionsHold(
        [
          { key: roles, values: ['USER'] },
          { key: 'request.auth.claims[scope]', values: ['admin:*'] },
        ],
        claims,
      ),
    ).toBe(true);
    expect(
      conditionsHold(
        [
          { key: roles, values: ['USER'] },
          { key: 'request.auth.claims[scope]', values: ['orders:write'] },
        ],
        claims,
      ),
    ).toBe(false);
    expect(conditionsHold([{ key: 'request.auth.presenter', values: ['*eb'] }], claims)).toBe(true);
    expect(conditionsHold([{ key: 'request.auth.claims[level]', values: ['3'] }], claims)).toBe(
      false,
    );
    expect(conditionsHold([{ key: 'request.headers[x]', values: ['*'] }], claims)).toBe(false);
    expect(compileConditions([])(claims)).toBe(true);
  });
});
