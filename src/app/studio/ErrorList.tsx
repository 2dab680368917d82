import { useStudio } from './studioStore';

/** Every error the user should see, until dismissed. The region exists even when empty so screen readers announce additions. */
export function ErrorList() {
  const errors = useStudio((s) => s.errors);
  const dismissError = useStudio((s) => s.dismissError);

  return (
    <div role="alert" className="errors" data-testid="errors">
      {errors.map((e) => (
        <div className="error" key={e.id} data-testid="error">
          <span>{e.message}</span>
          <button type="button" aria-label="Dismiss" onClick={() => dismissError(e.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
