import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

// R-I2: the one list of custom search attributes. The dev server (`npm start`), the
// time-skipping test server (tests) and docker-compose all register exactly these.
export const BillingAccountId = defineSearchAttributeKey('BillingAccountId', SearchAttributeType.KEYWORD);
export const Product = defineSearchAttributeKey('Product', SearchAttributeType.KEYWORD);
export const Edition = defineSearchAttributeKey('Edition', SearchAttributeType.KEYWORD);
export const SubscriptionStatus = defineSearchAttributeKey('SubscriptionStatus', SearchAttributeType.KEYWORD);
export const ExpiresAt = defineSearchAttributeKey('ExpiresAt', SearchAttributeType.DATETIME);
export const NextDeductionAt = defineSearchAttributeKey('NextDeductionAt', SearchAttributeType.DATETIME);
export const ArrearsStatus = defineSearchAttributeKey('ArrearsStatus', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [BillingAccountId, Product, Edition, SubscriptionStatus, ExpiresAt, NextDeductionAt, ArrearsStatus];

/** `Name=Type` as `temporal server start-dev --search-attribute` takes it. */
export function cliSearchAttributeFlags(): string[] {
  const cliType: Record<string, string> = { KEYWORD: 'Keyword', DATETIME: 'Datetime', TEXT: 'Text', INT: 'Int', DOUBLE: 'Double', BOOL: 'Bool' };
  return SEARCH_ATTRIBUTES.flatMap((k) => ['--search-attribute', `${k.name}=${cliType[k.type]}`]);
}
