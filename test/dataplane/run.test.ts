import { jest } from '@jest/globals';
import { verifyDataplane } from '../../policies/dataplane/run.js';

describe('verifyDataplane', () => {
  afterEach(() => {
    jest.restoreAllMocks();
  });

  test('GIVEN a user other than root WHEN it starts THEN it refuses before it starts anything, naming the uid', async () => {
    jest.spyOn(process, 'getuid').mockReturnValue(1000);
    const progress = jest.fn();
    await expect(
      verifyDataplane({ manifests: ['dist'], seed: 1, size: 10, progress }),
    ).rejects.toThrow(
      'verify-dataplane needs root (it makes network namespaces and iptables rules); running as uid 1000',
    );
    expect(progress).not.toHaveBeenCalled();
  });
});
