#!/usr/bin/env bash
# The trainer-facing crate `ringlog` must not pull in CLI- or service-only
# crates (docs/decisions.md, ADR 16). Fails naming the offender.
set -euo pipefail
cd "$(dirname "$0")/.."
forbidden='^(clap|clap_builder|clap_complete|clap_mangen|indicatif|csv|tracing-subscriber|regex|regex-automata|ratatui|plotters|arrow|arrow-.*|parquet|ringlog-service|ringlog-wandb|prost) v'
tree=$(cargo tree -e normal -p ringlog --prefix none)
if bad=$(grep -E "$forbidden" <<<"$tree" | sort -u) && [[ -n $bad ]]; then
    echo "check_layers: the trainer crate ringlog depends on service/CLI crates:" >&2
    echo "$bad" >&2
    exit 1
fi
echo "check_layers: ringlog pulls in $(sed 's/ (.*//' <<<"$tree" | sort -u | wc -l) crates, none of them CLI- or service-only"
