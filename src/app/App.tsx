import { useEffect } from 'react';

import { ComparePanel } from './compare/ComparePanel';
import { Credits } from './studio/Credits';
import { ErrorList } from './studio/ErrorList';
import { EvaluatePanel } from './evaluate/EvaluatePanel';
import { GeneratePanel } from './generate/GeneratePanel';
import { Header } from './studio/Header';
import { ImageGrid } from './shared/ImageGrid';
import { LabelPanel } from './label/LabelPanel';
import { ModelInfo } from './studio/ModelInfo';
import { PairsPanel } from './pairs/PairsPanel';
import { ProjectBar } from './project/ProjectBar';
import { RunPanel } from './run/RunPanel';
import { Tabs, type TabSpec } from './studio/Tabs';
import { useProjects } from './project/projectStore';
import { useStudio } from './studio/studioStore';

// In the order of the user's path (architecture.md section 1): label, check the pairs, run, compare.
const TABS: readonly TabSpec[] = [
  { id: 'label', label: 'Label', render: () => <LabelPanel /> },
  { id: 'pairs', label: 'Pairs', render: () => <PairsPanel /> },
  { id: 'run', label: 'Run', render: () => <RunPanel /> },
  { id: 'compare', label: 'Compare', render: () => <ComparePanel /> },
  {
    id: 'generate',
    label: 'Generate',
    render: () => (
      <div className="layout">
        <GeneratePanel />
        <ImageGrid />
      </div>
    ),
  },
  { id: 'evaluate', label: 'Evaluate', render: () => <EvaluatePanel /> },
];

export function App() {
  useEffect(() => {
    const { startWorker, loadSuggestions, loadNotice } = useStudio.getState();
    startWorker();
    void loadSuggestions();
    void loadNotice();
    void useProjects.getState().load();
  }, []);

  return (
    <div className="app">
      <Header />
      <ErrorList />
      <ProjectBar />
      <main>
        <Tabs tabs={TABS} />
      </main>
      <footer className="footer">
        <ModelInfo />
        <Credits />
      </footer>
    </div>
  );
}
