// The studio's tabs, after the WAI-ARIA tabs pattern: one tab stop for the row (arrow keys,
// Home and End move between tabs), every panel labelled by its tab. The last tab is
// remembered in localStorage so a reload lands where the user was.

import { useRef, useState, type KeyboardEvent, type ReactNode } from 'react';

export interface TabSpec {
  id: string;
  label: string;
  render: () => ReactNode;
}

const TAB_KEY = 'sail-studio.tab';

function initialTab(tabs: readonly TabSpec[]): string {
  try {
    const stored = window.localStorage.getItem(TAB_KEY);
    if (stored && tabs.some((t) => t.id === stored)) return stored;
  } catch {
    // Storage can be blocked; the first tab then opens.
  }
  return tabs[0].id;
}

export function Tabs({ tabs }: { tabs: readonly TabSpec[] }) {
  const [active, setActive] = useState(() => initialTab(tabs));
  const buttons = useRef(new Map<string, HTMLButtonElement>());

  const select = (id: string, focus = false) => {
    setActive(id);
    try {
      window.localStorage.setItem(TAB_KEY, id);
    } catch {
      // See initialTab.
    }
    if (focus) buttons.current.get(id)?.focus();
  };

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const index = tabs.findIndex((t) => t.id === active);
    const target =
      e.key === 'ArrowRight' ? (index + 1) % tabs.length
      : e.key === 'ArrowLeft' ? (index - 1 + tabs.length) % tabs.length
      : e.key === 'Home' ? 0
      : e.key === 'End' ? tabs.length - 1
      : -1;
    if (target < 0) return;
    e.preventDefault();
    select(tabs[target].id, true);
  };

  return (
    <div className="tabs">
      <div className="tab-list" role="tablist" aria-label="Studio" onKeyDown={onKeyDown}>
        {tabs.map((t) => (
          <button
            key={t.id}
            ref={(el) => {
              if (el) buttons.current.set(t.id, el);
              else buttons.current.delete(t.id);
            }}
            type="button"
            role="tab"
            id={`tab-${t.id}`}
            aria-selected={t.id === active}
            aria-controls={`panel-${t.id}`}
            tabIndex={t.id === active ? 0 : -1}
            className="tab"
            data-testid={`tab-${t.id}`}
            onClick={() => select(t.id)}
          >
            {t.label}
          </button>
        ))}
      </div>
      {tabs
        .filter((t) => t.id === active)
        .map((t) => (
          <div key={t.id} role="tabpanel" id={`panel-${t.id}`} aria-labelledby={`tab-${t.id}`} className="tab-panel" tabIndex={0}>
            {t.render()}
          </div>
        ))}
    </div>
  );
}
