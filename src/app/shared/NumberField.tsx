import { useEffect, useState } from 'react';

import { LIMITS, type LimitName } from './limits';
import { useStudio } from '../studio/studioStore';

/**
 * A number input bound to one store field. It keeps its own text while the user types (so the
 * field can be empty for a moment) and commits every valid number, clamped, to the store.
 */
export function NumberField({ name, label, disabled }: { name: LimitName; label: string; disabled?: boolean }) {
  const value = useStudio((s) => s[name]);
  const setNumber = useStudio((s) => s.setNumber);
  const [text, setText] = useState(String(value));
  const { min, max, step } = LIMITS[name];

  useEffect(() => setText(String(value)), [value]);

  return (
    <label className="field">
      <span>{label}</span>
      <input
        type="number"
        inputMode="decimal"
        min={min}
        max={max}
        step={step}
        value={text}
        disabled={disabled}
        data-testid={`${name}-input`}
        onChange={(e) => {
          setText(e.target.value);
          if (e.target.value.trim() !== '') setNumber(name, Number(e.target.value));
        }}
        onBlur={() => setText(String(value))}
      />
    </label>
  );
}
