import type { ApiDeps } from './app';

/** The API's clock in epoch ms: the host's, or the one the deps carry (tests follow the time-skipping server). */
export const apiClock = (deps: Pick<ApiDeps, 'clock'>) => (): number => (deps.clock ? deps.clock.now().getTime() : Date.now());
