import { usePromptLabel } from '../shared/promptLabel';
import { useStudio } from '../studio/studioStore';
import { NumberField } from '../shared/NumberField';
import { ProgressBar } from '../shared/ProgressBar';

function Suggestions() {
  const suggestions = useStudio((s) => s.suggestions);
  const setPrompt = useStudio((s) => s.setPrompt);
  const shuffleSuggestions = useStudio((s) => s.shuffleSuggestions);
  const label = usePromptLabel();
  if (suggestions.length === 0) return null;

  return (
    <div className="suggestions" data-testid="suggestions">
      <span className="muted">Try a held-out prompt:</span>
      {suggestions.map((s) => (
        <button type="button" className="chip" key={s} data-testid="suggestion" data-prompt={s} onClick={() => setPrompt(label(s))}>
          {label(s)}
        </button>
      ))}
      <button type="button" className="link" data-testid="shuffle-suggestions" onClick={shuffleSuggestions}>
        Other ideas
      </button>
    </div>
  );
}

function UnknownWords() {
  const words = useStudio((s) => s.unknownWords);
  if (words.length === 0) return null;
  return (
    <p className="warning" role="status" data-testid="unknown-words">
      The model does not know {words.length === 1 ? 'this word' : 'these words'} and will read{' '}
      {words.length === 1 ? 'it' : 'them'} as “unknown”: {words.join(', ')}
    </p>
  );
}

export function GeneratePanel() {
  const prompt = useStudio((s) => s.prompt);
  const setPrompt = useStudio((s) => s.setPrompt);
  const evaluationPrompts = useStudio((s) => s.evaluationPrompts);
  const ready = useStudio((s) => s.workerStatus === 'ready');
  const status = useStudio((s) => s.generation.status);
  const generate = useStudio((s) => s.generate);
  const cancel = useStudio((s) => s.cancel);
  const randomizeSeed = useStudio((s) => s.randomizeSeed);
  const busy = status !== 'idle';
  const label = usePromptLabel();

  return (
    <section className="panel controls" aria-label="Generate">
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void generate();
        }}
      >
        <label className="field prompt">
          <span>Prompt</span>
          <input
            type="text"
            value={prompt}
            list="prompt-ideas"
            placeholder="e.g. grinning face with smiling eyes"
            autoComplete="off"
            spellCheck={false}
            maxLength={200}
            data-testid="prompt-input"
            onChange={(e) => setPrompt(e.target.value)}
          />
          <datalist id="prompt-ideas">
            {evaluationPrompts.map((p) => (
              <option key={p.prompt} value={label(p.prompt)} />
            ))}
          </datalist>
        </label>
        <Suggestions />
        <UnknownWords />
        <div className="numbers">
          <NumberField name="count" label="Images" disabled={busy} />
          <div className="seed">
            <NumberField name="seed" label="Seed" disabled={busy} />
            <button type="button" className="icon" title="Random seed" aria-label="Random seed" disabled={busy} onClick={randomizeSeed}>
              ⚄
            </button>
          </div>
          <NumberField name="guidance" label="Guidance" disabled={busy} />
          <NumberField name="steps" label="DDIM steps" disabled={busy} />
        </div>
        <div className="actions">
          <button type="submit" className="primary" disabled={!ready || busy || !prompt.trim()} data-testid="generate">
            Generate
          </button>
          <button type="button" disabled={status !== 'running'} onClick={cancel} data-testid="cancel">
            {status === 'cancelling' ? 'Cancelling…' : 'Cancel'}
          </button>
        </div>
      </form>
      <ProgressBar />
    </section>
  );
}
