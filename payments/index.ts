// Payment collection (SPEC §4) for activities and the API.
export * from './payment-engine';
export * from './card-gateway';
export * from './errors';
export { SandboxCardGateway, createSandboxGateway, gatewayFromEnv, SANDBOX_TOKENS } from './sandbox-gateway';
export type { SandboxChargeRecord, SandboxGatewayOptions } from './sandbox-gateway';
export { verifyBalances, ensureAccountFinance, LEDGER } from './ledger';
export type { BalanceCheck, LedgerTransactionDto } from './ledger';
