// Being built (studio-A): filled in by the next commits.
export function LabelPanel() {
  return <section className="panel" data-testid="label-panel" />;
}
