// The pure billing rules (SPEC R-…): no I/O, no Temporal, no clock. Safe to import from
// deterministic workflow code. billing/payments.ts (R-P1..P6) is owned separately.
export * from './money';
export * from './calendar';
export * from './renewal-schedule';
export * from './subscription-rules';
export * from './usage';
