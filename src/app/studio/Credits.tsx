import { useStudio } from './studioStore';

/** The licence notices (public/data/NOTICE.md, and public/models/base/NOTICE.md when the base has one), shown as plain text. */
export function Credits() {
  const notice = useStudio((s) => s.notice);

  return (
    <section className="panel credits" aria-label="Credits and licences">
      <h2>Credits and licences</h2>
      <pre className="notice" data-testid="notice" data-status={notice.status}>
        {notice.status === 'loading' ? 'Loading…' : notice.text}
      </pre>
    </section>
  );
}
