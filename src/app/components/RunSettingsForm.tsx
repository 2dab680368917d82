import { useEffect, useState } from 'react';

import type { SailSettings } from '../../core/sail/loop';
import { SETTING_FIELDS, type SettingField } from '../runSettings';
import { useRun } from '../runStore';

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

export function RunSettingsForm({ disabled }: { disabled: boolean }) {
  const pairing = useRun((s) => s.settings.pairing);
  const judge = useRun((s) => s.settings.judge);
  const setSetting = useRun((s) => s.setSetting);
  const resetSettings = useRun((s) => s.resetSettings);

  return (
    <fieldset className="run-settings" disabled={disabled}>
      <legend>Settings</legend>
      <div className="numbers">
        {SETTING_FIELDS.map((f) => (
          <SettingInput key={f.name} field={f} disabled={disabled} />
        ))}
        <label className="field" title="which candidates of a prompt become its self pair">
          <span>Pairing</span>
          <select value={pairing} data-testid="run-setting-pairing" onChange={(e) => setSetting('pairing', e.target.value as SailSettings['pairing'])}>
            <option value="best-worst">best vs worst</option>
            <option value="random">random</option>
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
    </fieldset>
  );
}
