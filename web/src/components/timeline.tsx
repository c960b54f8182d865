import type { Subscription } from '../api';
import { instantMs, localTime } from '../format';
import { useI18n } from '../i18n';

interface Entry {
  at: string;
  label: string;
  kind: 'attempt' | 'expiry' | 'grace' | 'frozen';
}

/**
 * The forecast (R-S3, R-S6…S8) as a timeline, in time order: the deduction attempts still to
 * come, the expiry, the end of grace (protection stops) and the end of the freeze (released).
 * The API's forecast assumes no deduction succeeds; so does this picture.
 */
export function Timeline({ s }: { s: Subscription }) {
  const { t } = useI18n();
  if (s.status === 'released' || s.status === 'unsubscribed') return <p>{t('forecast.ended')}</p>;
  const attempts = s.forecast.deduction_attempts;
  const entries: Entry[] = [
    ...attempts.map((at, i): Entry => ({ at, label: t('forecast.attempt', { n: i + 1, total: attempts.length }), kind: 'attempt' })),
    { at: s.expires_at, label: t('forecast.expiry'), kind: 'expiry' as const },
    ...(s.forecast.grace_ends_at ? [{ at: s.forecast.grace_ends_at, label: t('forecast.graceEnd'), kind: 'grace' as const }] : []),
    ...(s.forecast.frozen_ends_at ? [{ at: s.forecast.frozen_ends_at, label: t('forecast.frozenEnd'), kind: 'frozen' as const }] : []),
  ].sort((a, b) => instantMs(a.at) - instantMs(b.at));
  return (
    <>
      {attempts.length === 0 && <p data-testid="forecast-no-attempts">{t('forecast.noAttempts')}</p>}
      <ol class="timeline" data-testid="forecast">
        {entries.map((e) => (
          <li key={`${e.kind}-${e.at}`} class={`tl-${e.kind}`} data-kind={e.kind}>
            <time dateTime={e.at}>{localTime(e.at)}</time>
            <span>{e.label}</span>
          </li>
        ))}
      </ol>
      <p class="muted small">{t('forecast.assumes')}</p>
    </>
  );
}
