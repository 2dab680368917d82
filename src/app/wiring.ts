// How the feature stores follow one another, in one place instead of inside each store: the
// project bar's choice opens that project in the Run tab (so a reload marks a cut-off run
// interrupted at once, not only when the tab is opened) and clears the Label tab's undo history
// (Undo takes back pairs of the project they were stored in only); a model that becomes ready
// fills the Label tab's queue (again after a worker restart), if the tab is open.

import { useLabelling } from './label/labelStore';
import { useProjects } from './project/projectStore';
import { useRun } from './run/runStore';
import { useStudio } from './studio/studioStore';

let wired = false;

export function wireStores(): void {
  if (wired) return;
  wired = true;
  useProjects.subscribe((state, previous) => {
    if (state.currentProjectId === previous.currentProjectId) return;
    void useRun.getState().openProject(state.currentProjectId);
    useLabelling.setState({ history: [] });
  });
  void useRun.getState().openProject(useProjects.getState().currentProjectId);
  useStudio.subscribe((state, previous) => {
    if (state.workerStatus === 'ready' && previous.workerStatus !== 'ready') useLabelling.getState().fill();
  });
}
