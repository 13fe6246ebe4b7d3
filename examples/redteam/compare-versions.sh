#!/usr/bin/env bash
# Run `warded redteam` against a running decision API of another warded version (its source tree on
# PYTHONPATH), then attack that version's own audit log with its own verifier. Usage:
#
#   examples/redteam/compare-versions.sh SRC_DIR OUT_DIR [EXTRA_VERIFY_FLAGS]
#
# SRC_DIR: the `src` folder of the version under test (e.g. a `git worktree add /tmp/old 074dd7b`).
# The red team itself (generators, oracles, reports) is always this checkout's. See docs/redteam.md.
set -euo pipefail
SRC=$(cd "$1" && pwd)
OUT=$(mkdir -p "$2" && cd "$2" && pwd)
VERIFY_FLAGS=${3:-}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-$HERE/.venv/bin/python}
PORT=${PORT:-18411}
KEY=redteam-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
DEPLOY=$OUT/deploy
rm -rf "$DEPLOY" && mkdir -p "$DEPLOY/mail/attachments"
echo "invoice" > "$DEPLOY/mail/attachments/a.pdf"
cp "$SRC/warded/examples/demo.yaml" "$DEPLOY/warded.yaml"
HASH1=$(printf %s "$KEY-1" | sha256sum | cut -d' ' -f1)
HASH2=$(printf %s "$KEY-2" | sha256sum | cut -d' ' -f1)
printf '\nserve:\n  port: %s\n  api_keys:\n    mail-assistant: %s\n    reporting-bot: %s\n' "$PORT" "$HASH1" "$HASH2" >> "$DEPLOY/warded.yaml"
(cd "$DEPLOY" && PYTHONPATH="$SRC" "$PY" -m warded.cli keygen approver-alice.key > /dev/null)
(cd "$DEPLOY" && PYTHONPATH="$SRC" exec "$PY" -m warded.cli serve --policy warded.yaml --port "$PORT") \
  > "$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if curl -sf "http://127.0.0.1:$PORT/healthz" > /dev/null; then break; fi
  sleep 0.3
done
# 1. Every family the HTTP target supports, against the running server. The tool server's working
#    directory is $OUT (not the attachments folder): a relative path means what it means there.
cd "$OUT"
"$PY" -m warded.cli redteam "$DEPLOY/warded.yaml" --target "http://127.0.0.1:$PORT" \
  --api-key "mail-assistant=$KEY-1" --api-key "reporting-bot=$KEY-2" --budget "${BUDGET:-1500}" \
  --out "$OUT/http.json" --sarif "$OUT/http.sarif" --html "$OUT/http.html" > "$OUT/http.txt" || true
# 2. Stop the server cleanly (its log ends with a signed shutdown), then attack a copy of that log with
#    that version's own `warded audit verify`.
kill -INT $SERVER 2>/dev/null || true; wait $SERVER || true
trap - EXIT
"$PY" -m warded.cli redteam "$DEPLOY/warded.yaml" --family audit --budget 60 \
  --audit-db "$DEPLOY/warded-audit.db" --audit-pub "$DEPLOY/warded-audit.key.pub" \
  --verify-cmd "env PYTHONPATH=$SRC $PY -m warded.cli audit verify --db {db} --pubkey {pub} $VERIFY_FLAGS" \
  --out "$OUT/audit.json" > "$OUT/audit.txt" || true
cat "$OUT/http.txt" "$OUT/audit.txt"
