import { useEffect, useState } from 'react';

import type { SailSettings } from '../../core/sail/loop';
import { estimateRunMs, FALLBACK_MS_PER_PASS, formatDuration, msPerPassFrom, round0OnlyMs, runPasses } from './runProgress';
import { presetOf, presetSettings, RUN_PRESETS, SETTING_FIELDS, type SettingField } from './runSettings';
import { GRID_CELLS, useRun } from './runStore';
import { useStudio } from '../studio/studioStore';

/** A number field that keeps its own text while the user types and commits every number it reads. */
function SettingInput({ field, disabled }: { field: SettingField; disabled: boolean }) {
  const value = useRun((s) => s.settings[field.name]);
  const setSetting = useRun((s) => s.setSetting);
  const [text, setText] = useState(String(value));
  useEffect(() => setText(String(value)), [value]);
  const number = Number(text);
  const invalid = text.trim() === '' || !Number.isFinite(number) || number < field.min || number > field.max || (field.integer && !Number.isInteger(number));

  return (
    <label className="field" title={field.hint}>
      <span>{field.label}</span>
      <input
        type="number"
        inputMode="decimal"
        min={field.min}
        max={field.max}
        step={field.integer ? 1 : 'any'}
        value={text}
        disabled={disabled}
        aria-invalid={invalid}
        aria-description={field.hint}
        data-testid={`run-setting-${field.name}`}
        onChange={(e) => {
          setText(e.target.value);
          const v = Number(e.target.value);
          if (e.target.value.trim() !== '' && Number.isFinite(v)) setSetting(field.name, v);
        }}
      />
    </label>
  );
}

/** The whole run's estimated time before Start: from this page's last generation, else from a measured pace. */
function DurationEstimate() {
  const settings = useRun((s) => s.settings);
  const generation = useStudio((s) => s.result);
  const backend = useStudio((s) => s.backend);
  const measured = generation ? msPerPassFrom(generation.ms, generation.images.length, generation.steps) : null;
  // The model worker starts a helper worker on a second core where wasm runs on one thread.
  const workers = backend?.name === 'wasm' && backend.threads === 1 && navigator.hardwareConcurrency >= 2 ? 2 : 1;
  const ms = estimateRunMs(settings, GRID_CELLS, measured ?? FALLBACK_MS_PER_PASS, workers);
  const short = round0OnlyMs(settings, GRID_CELLS, measured ?? FALLBACK_MS_PER_PASS, workers);
  return (
    <p className="muted" data-testid="run-estimate" data-ms={Math.round(ms)} data-passes={runPasses(settings, GRID_CELLS)} data-workers={workers} {...(short !== null ? { 'data-round0-ms': Math.round(short) } : {})}>
      Estimated time for the whole run: about {formatDuration(ms)}
      {short !== null ? `, or about ${formatDuration(short)} if round 0 leaves a later round too little of the drift bound and the run ends there` : ''}{' '}
      {measured !== null
        ? `(at this browser's speed in the last Generate on ${generation!.backend}`
        : '(at the speed of one CPU core on wasm; generate an image first for this browser\'s own pace'}
      {workers > 1 ? ', with a second worker on another core)' : ')'}.
    </p>
  );
}

export function RunSettingsForm({ disabled }: { disabled: boolean }) {
  const settings = useRun((s) => s.settings);
  const pairing = settings.pairing;
  const judge = settings.judge;
  const setSetting = useRun((s) => s.setSetting);
  const resetSettings = useRun((s) => s.resetSettings);
  const preset = presetOf(settings);

  return (
    <fieldset className="run-settings" disabled={disabled}>
      <legend>Settings</legend>
      <div className="presets" role="radiogroup" aria-label="Presets">
        {RUN_PRESETS.map((p) => (
          <button
            type="button"
            key={p.id}
            role="radio"
            aria-checked={preset?.id === p.id}
            className={preset?.id === p.id ? 'chip chosen' : 'chip'}
            title={p.hint}
            data-testid={`run-preset-${p.id}`}
            onClick={() => {
              const next = presetSettings(p, settings);
              for (const k of Object.keys(next) as (keyof SailSettings)[]) setSetting(k, next[k]);
            }}
          >
            {p.label}
          </button>
        ))}
        <span className="muted" data-testid="run-preset-hint">
          {preset ? preset.hint : 'Custom settings (see Advanced).'}
        </span>
      </div>
      <DurationEstimate />
      <details className="advanced" data-testid="run-advanced">
        <summary>Advanced: every setting</summary>
        <div className="numbers">
          {SETTING_FIELDS.map((f) => (
            <SettingInput key={f.name} field={f} disabled={disabled} />
          ))}
          <label className="field" title="which candidates of a prompt become its self pair">
            <span>Pairing</span>
            <select value={pairing} data-testid="run-setting-pairing" onChange={(e) => setSetting('pairing', e.target.value as SailSettings['pairing'])}>
              <option value="best-worst">best vs worst</option>
              <option value="random">random</option>
              <option value="against-base">model vs base, same noise</option>
            </select>
          </label>
          <label className="field" title="whose implicit reward ranks the candidates (against the base)">
            <span>Judge</span>
            <select value={judge} data-testid="run-setting-judge" onChange={(e) => setSetting('judge', e.target.value as SailSettings['judge'])}>
              <option value="current">current model</option>
              <option value="round0">round-0 model</option>
            </select>
          </label>
        </div>
        <button type="button" className="link" onClick={resetSettings} data-testid="run-settings-reset">
          Reset to the measured defaults
        </button>
      </details>
    </fieldset>
  );
}
