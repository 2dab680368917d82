// The page shows an emoji prompt by its readable name ("thumbs down sign", "squared 合"); the model
// reads the prompt itself ("thumbs down sign 1 thumbsdown"). Prompts the manifest does not know
// (typed or uploaded captions) show as they are.

import { useStudio } from '../studio/studioStore';

/** A function from prompt to what the page shows for it; re-renders when the labels load. */
export function usePromptLabel(): (prompt: string) => string {
  const labels = useStudio((s) => s.promptLabels);
  return (prompt) => labels[prompt] ?? prompt;
}
