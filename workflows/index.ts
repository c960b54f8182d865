// The workflow bundle's entry point: every workflow type the worker registers.
export { subscriptionWorkflow } from './subscription.workflow';
export { accountWorkflow } from './account.workflow';
