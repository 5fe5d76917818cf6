#!/usr/bin/env bash
# Creates the ten topics of the system with the settings the contract requires, and checks them.
# Idempotent: safe to run on every `docker compose up` and against an existing cluster.
#
#   KAFKA_BOOTSTRAP_SERVERS=broker:9092 bash deploy/kafka/create-topics.sh
#
# Extra client settings (TLS/SASL for a managed cluster) go in a properties file named by
# KAFKA_COMMAND_CONFIG. The partition count is part of the contract (contracts/topics.py):
# never change it on a topic that holds data; this script fails instead of "fixing" it.
set -euo pipefail

BOOTSTRAP="${KAFKA_BOOTSTRAP_SERVERS:-kafka:9092}"
PARTITIONS="${TOPIC_PARTITIONS:-4}"
REPLICATION="${TOPIC_REPLICATION_FACTOR:-1}"
BIN="${KAFKA_BIN:-/opt/kafka/bin}"
CLIENT=(--bootstrap-server "$BOOTSTRAP")
if [ -n "${KAFKA_COMMAND_CONFIG:-}" ]; then
  CLIENT+=(--command-config "$KAFKA_COMMAND_CONFIG")
fi

topics=()
for service in intake routing quality billing notify analytics; do
  topics+=("complaints.$service.events" "complaints.$service.events.dlq")
done

for topic in "${topics[@]}"; do
  "$BIN/kafka-topics.sh" "${CLIENT[@]}" --create --if-not-exists --topic "$topic" \
    --partitions "$PARTITIONS" --replication-factor "$REPLICATION" \
    --config retention.ms=-1 --config retention.bytes=-1 --config cleanup.policy=delete
  # --if-not-exists leaves an existing topic (e.g. one created with broker defaults) as it is,
  # so enforce the retention settings explicitly.
  "$BIN/kafka-configs.sh" "${CLIENT[@]}" --alter --entity-type topics --entity-name "$topic" \
    --add-config retention.ms=-1,retention.bytes=-1,cleanup.policy=delete
done

# One describe for all topics; lines look like "Topic: NAME<TAB>TopicId: ...<TAB>PartitionCount: N<TAB>...".
described="$("$BIN/kafka-topics.sh" "${CLIENT[@]}" --describe --topic 'complaints\..*')"
failed=0
for topic in "${topics[@]}"; do
  count="$(printf '%s\n' "$described" \
    | awk -v t="$topic" -F'\t' '$1 == "Topic: " t { for (i = 1; i <= NF; i++) if ($i ~ /^PartitionCount:/) { sub(/^PartitionCount: */, "", $i); print $i } }')"
  if [ "$count" != "$PARTITIONS" ]; then
    echo "ERROR: topic $topic has '${count}' partitions, expected $PARTITIONS" >&2
    failed=1
  else
    echo "ok: $topic ($count partitions, retention.ms=-1)"
  fi
done
exit "$failed"
