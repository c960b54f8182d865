import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { ArrearsStatus, BillingAccountId } from '../workflows/search-attributes';
import { accountWorkflowId, getUsageAccount, markWorkflowStarted, WakeAccounts } from '../store/usage.store';
import { accountWakeSignal } from '../workflows/account.messages';
import type { ApiDeps } from './app';

// The account's pay-per-use workflow (`account-<id>`) as the pay-per-use, usage-record and
// usage-package routes reach it: started the first time it is needed, woken when a billable
// fact arrives for an account at rest.

export function accountWorkflow(deps: ApiDeps) {
  const offset = deps.settings.offsetMinutes;

  /**
   * R-I2: the account's workflow is started the first time pay-per-use needs it, with an explicit
   * id-conflict policy (a running one is reused). The usage row remembers it, so later requests
   * make no call to Temporal.
   */
  async function ensureAccountWorkflow(account: { id: string; customer_level: 'standard' | 'key_account' }, at: number): Promise<void> {
    const row = await getUsageAccount(deps.db, account.id);
    if (row?.workflow_started_at) return;
    const periods = deps.settings.arrears[account.customer_level];
    try {
      await deps.temporal.workflow.start('accountWorkflow', {
        workflowId: accountWorkflowId(account.id),
        taskQueue: deps.settings.taskQueue,
        args: [{ start: { accountId: account.id, since: at, settings: { offsetMinutes: offset, graceDays: periods.graceDays, retentionDays: periods.retentionDays } } }],
        workflowIdConflictPolicy: 'USE_EXISTING',
        typedSearchAttributes: [
          { key: BillingAccountId, value: account.id },
          { key: ArrearsStatus, value: 'none' },
        ],
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    await markWorkflowStarted(deps.db, account.id, new Date(at));
  }

  /**
   * R-U2 at rest: wakes the workflows of accounts that had nothing to settle, one signal per
   * account (never one per record, R-U3). Called before the fact commits (leaveRest); a workflow
   * that no longer runs has nothing to wake.
   */
  const wake: WakeAccounts = async (accountIds) => {
    await Promise.all(accountIds.map(async (id) => {
      try {
        await deps.temporal.workflow.getHandle(accountWorkflowId(id)).signal(accountWakeSignal);
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
    }));
  };

  return { ensureAccountWorkflow, wake };
}
