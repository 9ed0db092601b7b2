#!/bin/sh
# The namespace the system runs in and the search attributes it sets on its runs, registered once
# the Temporal server answers. Runs in temporalio/admin-tools (it ships the temporal CLI). Safe to
# run again: what exists is left as it is. The dev stack and the test servers register the same
# attributes (bubble_shared/temporal/search_attributes.py; a test checks the two lists agree).
set -eu

: "${TEMPORAL_ADDRESS:?host:port of the Temporal frontend}"
NAMESPACE=${TEMPORAL_NAMESPACE:-default}
RETENTION=${TEMPORAL_NAMESPACE_RETENTION:-72h}
# Keyword attributes: find an item's, a batch's or an owner's runs (temporal workflow list -q).
SEARCH_ATTRIBUTES="BubbleItemId BubbleBatchId BubbleOwnerId"

# Runs "$@" until it succeeds, for up to two minutes: the server may still be starting, and a new
# namespace takes a few seconds to be seen by every part of it.
patiently() {
    attempt=0
    until "$@" >/dev/null 2>&1; do
        attempt=$((attempt + 1))
        if [ "$attempt" -ge 60 ]; then
            echo "gave up after 2 minutes: $*" >&2
            "$@"  # once more, with its error shown
        fi
        sleep 2
    done
}

patiently temporal operator cluster health --address "$TEMPORAL_ADDRESS"

if temporal operator namespace describe --address "$TEMPORAL_ADDRESS" -n "$NAMESPACE" \
    >/dev/null 2>&1; then
    echo "namespace $NAMESPACE exists"
else
    temporal operator namespace create --address "$TEMPORAL_ADDRESS" -n "$NAMESPACE" \
        --retention "$RETENTION"
    echo "created namespace $NAMESPACE (retention $RETENTION)"
fi

patiently temporal operator search-attribute list --address "$TEMPORAL_ADDRESS" \
    --namespace "$NAMESPACE"
registered=$(temporal operator search-attribute list --address "$TEMPORAL_ADDRESS" \
    --namespace "$NAMESPACE" -o json)
for name in $SEARCH_ATTRIBUTES; do
    if echo "$registered" | grep -q "\"$name\""; then
        echo "search attribute $name exists"
    else
        temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" \
            --namespace "$NAMESPACE" --name "$name" --type Keyword
        echo "created search attribute $name (Keyword)"
    fi
done
