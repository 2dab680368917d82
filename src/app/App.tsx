import { useEffect } from 'react';

import { ComparePanel } from './components/ComparePanel';
import { Credits } from './components/Credits';
import { ErrorList } from './components/ErrorList';
import { EvaluatePanel } from './components/EvaluatePanel';
import { GeneratePanel } from './components/GeneratePanel';
import { Header } from './components/Header';
import { ImageGrid } from './components/ImageGrid';
import { LabelPanel } from './components/LabelPanel';
import { ModelInfo } from './components/ModelInfo';
import { PairsPanel } from './components/PairsPanel';
import { ProjectBar } from './components/ProjectBar';
import { RunPanel } from './components/RunPanel';
import { Tabs, type TabSpec } from './components/Tabs';
import { useProjects } from './projectStore';
import { useStudio } from './store';

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
