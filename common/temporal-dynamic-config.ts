/**
 * The Temporal server's dynamic config quotaflow runs with, in one place: the dev server
 * (`npm start`, the system tier, the bench) gets it as `--dynamic-config-value` flags, the cluster
 * tier writes it to the real server's dynamic config file, and ops/temporal/dynamicconfig/
 * quotaflow.yaml (docker-compose.yml) holds the same (test/platform/compose.test.ts).
 */
export const TEMPORAL_DYNAMIC_CONFIG: Readonly<Record<string, number>> = {
  // The id length limit the SQL setups of Temporal's own compose files raise to.
  'limit.maxIDLength': 255,
  // Issue 14, purchase latency: a new run's first workflow task reaches matching only when the
  // history shard next reads its transfer queue, and by default a shard reads it at most 20
  // times a second. A purchase is an update-with-start that waits for that task, so it waited
  // 25 ms on average and 50 ms at worst before its workflow ran (measured: 19–33 ms of a 46 ms
  // bare update-with-start). Reads happen only when there are new tasks, so an idle shard
  // still does not poll; 200 a second is what larger deployments run.
  'history.transferProcessorMaxPollRPS': 200,
};

/** The config as the server's dynamic config file has it: each key a list of constrained values. */
export function dynamicConfigFileContent(): Record<string, { value: number; constraints: Record<string, never> }[]> {
  return Object.fromEntries(Object.entries(TEMPORAL_DYNAMIC_CONFIG).map(([k, value]) => [k, [{ value, constraints: {} }]]));
}

/** The config as `temporal server start-dev` flags. */
export function devServerDynamicConfigFlags(): string[] {
  return Object.entries(TEMPORAL_DYNAMIC_CONFIG).flatMap(([k, v]) => ['--dynamic-config-value', `${k}=${v}`]);
}
