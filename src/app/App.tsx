import { useEffect } from 'react';

import { Credits } from './components/Credits';
import { ErrorList } from './components/ErrorList';
import { GeneratePanel } from './components/GeneratePanel';
import { Header } from './components/Header';
import { ImageGrid } from './components/ImageGrid';
import { ModelInfo } from './components/ModelInfo';
import { useStudio } from './store';

export function App() {
  useEffect(() => {
    const { startWorker, loadSuggestions, loadNotice } = useStudio.getState();
    startWorker();
    void loadSuggestions();
    void loadNotice();
  }, []);

  return (
    <div className="app">
      <Header />
      <ErrorList />
      <main className="layout">
        <GeneratePanel />
        <ImageGrid />
      </main>
      <footer className="footer">
        <ModelInfo />
        <Credits />
      </footer>
    </div>
  );
}
