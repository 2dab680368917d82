// Placeholder while this tab is being built; its owner replaces this file.
export function ComparePanel() {
  return <section className="panel" data-testid="compare-panel" />;
}
