import { BENCHMARKS, parseBenchArgs } from '../../bench/args.js';

describe('parseBenchArgs', () => {
  it('runs every benchmark by default', () => {
    expect(parseBenchArgs([])).toEqual({ only: [...BENCHMARKS], help: false });
  });

  it.each([
    [['--only', 'services'], ['services']],
    [['--only=tests,engine'], ['engine', 'tests']],
    [
      ['--only', 'tests', '--only', 'synth'],
      ['synth', 'tests'],
    ],
  ])('%j selects %j, in table order', (argv, expected) => {
    expect(parseBenchArgs(argv).only).toEqual(expected);
  });

  it('reads --help', () => {
    expect(parseBenchArgs(['--help']).help).toBe(true);
  });

  it('throws when a benchmark name is unknown', () => {
    expect(() => parseBenchArgs(['--only', 'service'])).toThrow(
      "unknown benchmark 'service' (one of synth, engine, services, tests, dataplane, config, cluster)",
    );
  });

  it('throws when --only has no value', () => {
    expect(() => parseBenchArgs(['--only'])).toThrow("'--only' needs a benchmark name");
  });

  it('throws when an argument is unknown', () => {
    expect(() => parseBenchArgs(['--fast'])).toThrow("unknown argument '--fast'");
  });
});
