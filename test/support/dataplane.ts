/**
 * The kinds of request the differential corpus must hold (issue 18's list: every matrix cell,
 * then one thing varied at a time), checked by the corpus unit test and the tier alike.
 */
export const CORPUS_FAMILIES = [
  'matrix',
  'path',
  'method',
  'host',
  'token',
  'peer',
  'port',
  'when',
  'source',
  'gateway',
] as const;
