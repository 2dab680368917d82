// Where the studio's start-up settings come from: the page URL first (tests and shared links),
// then localStorage (the user's last choice), then defaults.

import type { BackendPreference } from '../../protocol';

export const BACKEND_OPTIONS: readonly { value: BackendPreference; label: string }[] = [
  { value: 'auto', label: 'Auto' },
  { value: 'webgpu', label: 'WebGPU' },
  { value: 'wasm', label: 'wasm' },
  { value: 'cpu', label: 'CPU' },
];

const BACKEND_KEY = 'sail-studio.backend';

export function isBackendPreference(value: unknown): value is BackendPreference {
  return BACKEND_OPTIONS.some((option) => option.value === value);
}

const urlParams = () => new URLSearchParams(window.location.search);

/** `?backend=` if valid, else the stored choice, else 'auto'. */
export function initialBackendPreference(): BackendPreference {
  const fromUrl = urlParams().get('backend');
  if (isBackendPreference(fromUrl)) return fromUrl;
  try {
    const stored = window.localStorage.getItem(BACKEND_KEY);
    if (isBackendPreference(stored)) return stored;
  } catch {
    // Storage can be blocked (privacy settings); the choice then lasts for this page only.
  }
  return 'auto';
}

/** Remembers the choice and drops `?backend=` so a reload keeps what the user picked. */
export function saveBackendPreference(preference: BackendPreference): void {
  try {
    window.localStorage.setItem(BACKEND_KEY, preference);
  } catch {
    // See initialBackendPreference.
  }
  const url = new URL(window.location.href);
  if (url.searchParams.has('backend')) {
    url.searchParams.delete('backend');
    window.history.replaceState(null, '', url);
  }
}

/**
 * `?threads=all`: wasm on every core (the threaded build; the page must be cross-origin isolated).
 * Not the default: measured here it made a default SAIL run 11% faster but a small generation
 * 2.4 times slower (README).
 */
export function allThreadsAsked(): boolean {
  return urlParams().get('threads') === 'all';
}

/** The checkpoint folder: `?model=` or models/base/, resolved against the page, with a trailing slash. */
export function modelUrl(): string {
  const folder = urlParams().get('model') || 'models/base/';
  const absolute = new URL(folder, window.location.href).href;
  return absolute.endsWith('/') ? absolute : `${absolute}/`;
}

/** Resolves a file shipped in public/ against the page (the app may be served from a sub-path). */
export const publicUrl = (path: string) => new URL(path, window.location.href).href;
