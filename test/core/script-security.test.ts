import { describe, expect, it } from 'vitest';
import { resolveUser } from '../../src/core/script-security.js';

describe('resolveUser', () => {
  it('reads names from /etc/passwd and /etc/group, and passes numbers through', () => {
    expect(resolveUser('root')).toEqual({ uid: 0, gid: 0 });
    expect(resolveUser('nobody', 'nogroup')).toEqual({ uid: 65534, gid: 65534 });
    expect(resolveUser(1234, '0')).toEqual({ uid: 1234, gid: 0 });
    expect(() => resolveUser(1234)).toThrow(/group/);
    expect(() => resolveUser('root', 'no-such-group-lvsd')).toThrow(/no-such-group-lvsd/);
  });
});
