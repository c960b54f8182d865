export default async function globalTeardown(): Promise<void> {
  const handle = (globalThis as { __quotaflowPg?: { stop(): Promise<void> } }).__quotaflowPg;
  if (handle) await handle.stop();
}
