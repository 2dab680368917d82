// Projects and their seed pairs: the zustand store the project bar, the Label and Pairs tabs
// and the storage line read. It mirrors what StudioDb holds for the current project; every
// change is written to IndexedDB first and shown once it is stored, so the page never shows
// work that a reload would lose.

import { create } from 'zustand';

import { studioDb, type StorageEstimateInfo } from '../storage/db';
import type { ProjectRecord, StoredPair } from '../storage/schema';
import { useStudio } from '../studio/studioStore';

export type { ProjectRecord, StoredPair } from '../storage/schema';

/** The paper's premise is a small seed set; the counter suggests this many before a first run. */
export const SUGGESTED_SEED_PAIRS = 16;

const CURRENT_KEY = 'sail-studio.project';
const FIRST_PROJECT_NAME = 'My first project';

export interface StorageInfo extends StorageEstimateInfo {
  /** Whether the page has asked for persistent storage yet (the browser may say no). */
  persistAsked: boolean;
}

export interface ProjectState {
  status: 'loading' | 'ready' | 'failed';
  /** Why the projects could not be opened (status 'failed'). */
  loadError: string | null;
  /** Oldest first. */
  projects: ProjectRecord[];
  currentProjectId: string | null;
  /** The current project's pairs, oldest first. */
  pairs: StoredPair[];
  storage: StorageInfo | null;
}

export interface ProjectActions {
  /** Opens the database, creates a first project if there is none and selects the last one used. */
  load(): Promise<void>;
  createProject(name: string): Promise<void>;
  renameProject(id: string, name: string): Promise<void>;
  deleteProject(id: string): Promise<void>;
  switchProject(id: string): Promise<void>;
  /** Re-reads the project records (after another store changed one, e.g. a run saved a round). */
  refreshProjects(): Promise<void>;
  /**
   * Stores pairs in one transaction, in the current project or `projectId` (an upload keeps the
   * project it started in); resolves false if they were not stored (the error list says why).
   */
  addPairs(pairs: StoredPair[], projectId?: string): Promise<boolean>;
  /** A project's stored pairs (the current project's from memory), or null when they cannot be read. */
  pairsOf(projectId: string): Promise<StoredPair[] | null>;
  deletePair(pairId: string): Promise<boolean>;
  setPairLabel(pairId: string, label0: StoredPair['label0']): Promise<void>;
  refreshStorage(): Promise<void>;
  /** Asks for persistent storage (on the first pair, a new project and a run start). */
  requestPersistence(): Promise<void>;
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));
const report = (message: string) => useStudio.getState().reportError(message);

function rememberCurrent(id: string): void {
  try {
    window.localStorage.setItem(CURRENT_KEY, id);
  } catch {
    // Storage can be blocked; the first project then opens next time.
  }
}

function rememberedCurrent(): string | null {
  try {
    return window.localStorage.getItem(CURRENT_KEY);
  } catch {
    return null;
  }
}

export const useProjects = create<ProjectState & ProjectActions>()((set, get) => {
  let persistAsked = false;
  /** The load in progress: React's StrictMode runs the App's effect twice in development, and
   * two loads of an empty database would each create a first project. */
  let loading: Promise<void> | undefined;

  /** Runs a storage action; a failure is shown in the error list and resolves undefined. */
  const attempt = async <T>(action: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await action();
    } catch (err) {
      report(messageOf(err));
      return undefined;
    } finally {
      void get().refreshStorage();
    }
  };

  const loadProjects = async () => {
    set({ status: 'loading' });
    try {
      const db = await studioDb();
      let projects = await db.listProjects();
      if (projects.length === 0) projects = [await db.createProject(FIRST_PROJECT_NAME)];
      const remembered = rememberedCurrent();
      const current = projects.find((p) => p.id === remembered) ?? projects[projects.length - 1];
      set({ projects });
      await select(current.id);
      set({ status: 'ready', loadError: null });
    } catch (err) {
      set({ status: 'failed', loadError: `Your projects could not be opened: ${messageOf(err)}` });
    }
    void get().refreshStorage();
  };

  const select = async (id: string) => {
    const db = await studioDb();
    const pairs = await db.listPairs(id);
    rememberCurrent(id);
    set({ currentProjectId: id, pairs });
  };

  return {
    status: 'loading',
    loadError: null,
    projects: [],
    currentProjectId: null,
    pairs: [],
    storage: null,

    load() {
      loading ??= loadProjects().finally(() => {
        loading = undefined;
      });
      return loading;
    },

    async createProject(name) {
      await attempt(async () => {
        const db = await studioDb();
        const project = await db.createProject(name);
        set({ projects: await db.listProjects() });
        await select(project.id);
        void get().requestPersistence();
      });
    },

    async renameProject(id, name) {
      await attempt(async () => {
        const db = await studioDb();
        await db.renameProject(id, name);
        set({ projects: await db.listProjects() });
      });
    },

    async deleteProject(id) {
      await attempt(async () => {
        const db = await studioDb();
        await db.deleteProject(id);
        let projects = await db.listProjects();
        // The studio always has a project to label into.
        if (projects.length === 0) projects = [await db.createProject(FIRST_PROJECT_NAME)];
        set({ projects });
        if (get().currentProjectId === id || !projects.some((p) => p.id === get().currentProjectId)) await select(projects[projects.length - 1].id);
      });
    },

    async switchProject(id) {
      if (id === get().currentProjectId) return;
      await attempt(() => select(id));
    },

    async refreshProjects() {
      await attempt(async () => set({ projects: await (await studioDb()).listProjects() }));
    },

    async pairsOf(projectId) {
      if (get().currentProjectId === projectId) return get().pairs;
      try {
        return await (await studioDb()).listPairs(projectId);
      } catch {
        return null;
      }
    },
    async addPairs(pairs, projectId = get().currentProjectId ?? undefined) {
      if (!projectId || pairs.length === 0) return false;
      const firstPair = get().pairs.length === 0;
      const stored = await attempt(async () => {
        const db = await studioDb();
        await db.addPairs(projectId, pairs);
        return true;
      });
      if (!stored) return false;
      // Shown only once stored; another project may have been selected meanwhile.
      if (get().currentProjectId === projectId) set({ pairs: [...get().pairs, ...pairs] });
      if (firstPair) void get().requestPersistence();
      return true;
    },

    async deletePair(pairId) {
      const projectId = get().currentProjectId;
      if (!projectId) return false;
      const done = await attempt(async () => {
        await (await studioDb()).deletePair(projectId, pairId);
        return true;
      });
      if (done && get().currentProjectId === projectId) set({ pairs: get().pairs.filter((p) => p.id !== pairId) });
      return done === true;
    },

    async setPairLabel(pairId, label0) {
      const projectId = get().currentProjectId;
      if (!projectId) return;
      const done = await attempt(async () => {
        await (await studioDb()).setPairLabel(projectId, pairId, label0);
        return true;
      });
      if (done && get().currentProjectId === projectId) set({ pairs: get().pairs.map((p) => (p.id === pairId ? { ...p, label0 } : p)) });
    },

    async refreshStorage() {
      try {
        const info = await (await studioDb()).estimate();
        set({ storage: { ...info, persistAsked } });
      } catch {
        // The storage line is informative only; a failure to estimate changes nothing stored.
      }
    },

    async requestPersistence() {
      try {
        persistAsked = true;
        await (await studioDb()).requestPersistence();
      } catch {
        // Same as refreshStorage: the line then says persistence was not granted.
      }
      await get().refreshStorage();
    },
  };
});

/** The current project's record, or undefined while loading. */
export const currentProject = (state: ProjectState): ProjectRecord | undefined => state.projects.find((p) => p.id === state.currentProjectId);
