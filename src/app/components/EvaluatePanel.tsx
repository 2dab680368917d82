// Placeholder while this tab is being built; its owner replaces this file.
export function EvaluatePanel() {
  return <section className="panel" data-testid="evaluate-panel" />;
}
