#!/usr/bin/env bash
# Seeds a fuzz corpus (default: the `decode` target's; `decode_typed` takes
# the same seeds) with every decode input
# (`input_hex`) of the golden vectors. Usage: bash fuzz/seed.sh [CORPUS_DIR]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
vectors="$here/../posttroll-core/tests/golden/vectors.jsonl"
corpus="${1:-$here/corpus/decode}"
mkdir -p "$corpus"
# The JSON is read with sed (no jq, xxd or python needed): every vector is one
# line and `input_hex` holds only hex digits.
n=0
while IFS= read -r hex; do
    # hex -> \xHH escapes -> bytes (bash's printf; NUL bytes included).
    printf '%b' "$(sed 's/../\\x&/g' <<<"$hex")" >"$corpus/golden-$(printf '%03d' "$n")"
    n=$((n + 1))
done < <(sed -n 's/.*"input_hex": *"\([0-9a-fA-F]*\)".*/\1/p' "$vectors")
if [ "$n" -eq 0 ]; then
    echo "seed.sh: no input_hex found in $vectors" >&2
    exit 1
fi
echo "seed.sh: wrote $n seed inputs to $corpus"
