/** Label selection as Istio's `selector.matchLabels` does it: every key equal. */
export function subset(sel: Record<string, string>, labels: Record<string, string>): boolean {
  for (const k in sel) if (labels[k] !== sel[k]) return false;
  return true;
}
