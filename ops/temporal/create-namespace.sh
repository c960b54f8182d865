#!/bin/sh
# Creates the namespace and registers quotaflow's search attributes (the temporal-setup job in
# docker-compose.yml, with the admin-tools image's `temporal` CLI). Safe to rerun: an existing
# namespace is kept, an attribute already registered is skipped by the server.
# The list is common/search-attributes.ts's; test/platform/compose.test.ts checks they match.
set -eu
ns=${TEMPORAL_NAMESPACE:-default}
tries=0
until temporal operator cluster health >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -gt 90 ]; then echo "the temporal frontend at $TEMPORAL_ADDRESS did not answer in 3 minutes" >&2; exit 1; fi
  sleep 2
done
temporal operator namespace describe --namespace "$ns" >/dev/null 2>&1 ||
  temporal operator namespace create --namespace "$ns" --retention "${TEMPORAL_RETENTION:-30d}"
for attr in BillingAccountId=Keyword Product=Keyword Edition=Keyword SubscriptionStatus=Keyword \
            ExpiresAt=Datetime NextDeductionAt=Datetime ArrearsStatus=Keyword; do
  # A namespace just created reaches the server's namespace cache a few seconds later; until
  # then registering an attribute answers "namespace not found". Retry, bounded.
  tries=0
  until temporal operator search-attribute create --namespace "$ns" --name "${attr%%=*}" --type "${attr#*=}"; do
    tries=$((tries + 1))
    if [ "$tries" -gt 30 ]; then echo "could not register ${attr%%=*} in 60 s" >&2; exit 1; fi
    sleep 2
  done
done
echo "namespace $ns ready with quotaflow's search attributes"
