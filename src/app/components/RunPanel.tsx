// Placeholder while this tab is being built; its owner replaces this file.
export function RunPanel() {
  return <section className="panel" data-testid="run-panel" />;
}
