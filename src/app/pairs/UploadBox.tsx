// Upload of a pairs file (zip with pairs.jsonl, or the JSON variant): drop it here or pick it.
// Every rejected line is listed with its line number and reason; the good lines are stored
// together, or none of them; a file that cannot be read changes nothing.

import { useRef, useState, type DragEvent } from 'react';
import { create } from 'zustand';

import { leaveOutStored, type PairLineError } from '../../core/data/pairs';
import { useProjects, type StoredPair } from '../project/projectStore';
import { useStudio } from '../studio/studioStore';
import { MAX_UPLOAD_BYTES, UploadCancelled, formatMiB, parsePairsFile, refuseBeforeReading } from './uploadPairs';

interface UploadState {
  status: 'idle' | 'reading' | 'storing' | 'done' | 'failed';
  fileName: string;
  progress: { done: number; total: number } | null;
  added: number;
  errors: PairLineError[];
  /** What went wrong with the file as a whole. */
  message: string | null;
}

const idle: UploadState = { status: 'idle', fileName: '', progress: null, added: 0, errors: [], message: null };

/** Outside the component: an upload goes on (and its report stays) when the tab is switched. */
const useUpload = create<UploadState>()(() => idle);

/** Rejected lines shown at most; the rest are counted. */
const SHOWN_ERRORS = 100;

/** Aborts the file being read (Cancel). */
let reading: AbortController | undefined;

async function upload(file: File): Promise<void> {
  const state = useUpload.getState();
  if (state.status === 'reading' || state.status === 'storing') return;
  const projectId = useProjects.getState().currentProjectId;
  if (!projectId) return;
  const set = (s: Partial<UploadState>) => useUpload.setState(s);
  set({ ...idle, fileName: file.name });
  const refused = refuseBeforeReading(file);
  if (refused) return set({ status: 'failed', message: `${refused} Nothing was added.` });

  set({ status: 'reading' });
  let parsed;
  reading = new AbortController();
  try {
    const imageSize = useStudio.getState().model?.imageSize ?? 32;
    parsed = await parsePairsFile(file, imageSize, (done, total) => set({ progress: { done, total } }), reading.signal);
  } catch (err) {
    const message = err instanceof UploadCancelled ? err.message : `${err instanceof Error ? err.message : String(err)} Nothing was added.`;
    return set({ status: 'failed', message });
  } finally {
    reading = undefined;
  }
  const fileError = parsed.errors.find((e) => e.line === 0);
  if (fileError) return set({ status: 'failed', message: `${file.name} could not be read: ${fileError.reason}. Nothing was added.` });

  // Pairs the project already holds are left out, each on its line: uploading a file twice adds nothing.
  const existing = await useProjects.getState().pairsOf(projectId);
  if (existing === null) return set({ status: 'failed', message: `The project's stored pairs could not be read, so ${file.name} was not added (nothing changed); try again.` });
  const fresh = leaveOutStored(parsed.pairs, existing);
  const errors = [...parsed.errors, ...fresh.errors].sort((a, b) => a.line - b.line);
  const now = Date.now();
  const pairs: StoredPair[] = fresh.pairs.map(({ line: _line, ...p }, i) => ({ id: crypto.randomUUID(), ...p, source: 'upload', createdAt: now + i }));
  if (pairs.length === 0) return set({ status: 'done', added: 0, errors });
  set({ status: 'storing', errors });
  const stored = await useProjects.getState().addPairs(pairs, projectId);
  if (!stored) return set({ status: 'failed', message: `None of the ${pairs.length} good pairs were stored (the message above says why); what was stored before is unchanged.` });
  set({ status: 'done', added: pairs.length });
}

export function UploadBox() {
  const { status, fileName, progress, added, errors, message } = useUpload();
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const busy = status === 'reading' || status === 'storing';

  const take = (files: FileList | null) => {
    const file = files?.[0];
    if (file) void upload(file);
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    take(e.dataTransfer.files);
  };

  return (
    <div
      className={`upload-box${over ? ' over' : ''}`}
      data-testid="upload-box"
      data-status={status}
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={onDrop}
    >
      <p>
        <strong>Upload pairs:</strong> drop a pairs zip (<code>pairs.jsonl</code> with <code>caption</code>, <code>image_0</code>,{' '}
        <code>image_1</code>, <code>label_0</code> and the images it names) or a JSON file with data URLs here, or{' '}
        <button type="button" disabled={busy} data-testid="upload-choose" onClick={() => input.current?.click()}>
          choose a file…
        </button>{' '}
        <span className="muted">Up to {formatMiB(MAX_UPLOAD_BYTES)}.</span>
      </p>
      <input
        ref={input}
        type="file"
        hidden
        accept=".zip,.json,application/zip,application/json"
        data-testid="upload-input"
        onChange={(e) => {
          take(e.target.files);
          e.target.value = ''; // the same file can be chosen again
        }}
      />
      <div className="upload-report" role="status" aria-live="polite" data-testid="upload-report">
        {status === 'reading' && (
          <span>
            Reading {fileName}
            {progress ? `: ${progress.done} of ${progress.total} images` : '…'}{' '}
            <button type="button" data-testid="upload-cancel" onClick={() => reading?.abort()}>
              Cancel
            </button>
          </span>
        )}
        {status === 'storing' && <span>Saving the pairs of {fileName}…</span>}
        {status === 'failed' && (
          <span className="bad" data-testid="upload-message">
            {message}
          </span>
        )}
        {status === 'done' && (
          <span data-testid="upload-added" data-added={added}>
            {added > 0 ? `Added ${added} pair${added === 1 ? '' : 's'} from ${fileName}.` : `No pairs of ${fileName} could be used.`}
            {errors.length > 0 && ` ${errors.length} line${errors.length === 1 ? ' was' : 's were'} left out:`}
          </span>
        )}
      </div>
      {errors.length > 0 && (status === 'done' || status === 'storing') && (
        <ul className="upload-errors" data-testid="upload-errors">
          {errors.slice(0, SHOWN_ERRORS).map((e) => (
            <li key={e.line} data-testid="upload-error" data-line={e.line}>
              line {e.line}: {e.reason}
            </li>
          ))}
          {errors.length > SHOWN_ERRORS && <li className="muted">and {errors.length - SHOWN_ERRORS} more</li>}
        </ul>
      )}
    </div>
  );
}
