// The request and response pieces the route files share. Money, ids, instants and pages are
// re-exported here; the response shapes several route files answer with are in their own files
// (accounts, payments, subscriptions, bindings, responses).
export * from './ids';
export * from './instants';
export * from './money';
export * from './pagination';
