/**
 * Time bounds in tests catch hangs and quadratic blow-ups, not speed (speed lives in bench/). On a
 * loaded 2-core CI machine a linear run can take a few times its idle time, so every bound is
 * scaled by BERT4TS_TIME_SCALE (default 3); each bound stays well below the regression it guards.
 */
export const timeBound = (ms: number): number => ms * (Number(process.env.BERT4TS_TIME_SCALE) || 3);
