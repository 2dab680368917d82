// Being built (studio-A): filled in by the next commits.
export function PairsPanel() {
  return <section className="panel" data-testid="pairs-panel" />;
}
