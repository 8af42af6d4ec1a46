#!/usr/bin/env bash
# The figures of docs/guides/watching.md, from one command: probes.png of the CUBA network with
# probes, and the live view of it and of a PC run with probes, rendered by headless Chromium
# while each run runs. Needs Debian's chromium (apt-get install chromium).
#   benches/live_screenshots.sh            # writes docs/figures/{probes,live-cuba,live-pc}.png
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
AXON=target/release/axon
TMP="$(mktemp -d)"
trap 'kill $(jobs -p) 2> /dev/null || true; rm -rf "$TMP"' EXIT

"$AXON" run scenarios/cuba-probes.toml --out "$TMP/probes" --quiet
cp "$TMP/probes/probes.png" docs/figures/probes.png

# Starts `axon run ARGS --live`, waits WAIT seconds, renders the page into OUT.
shoot() {
    local out="$1" wait="$2"
    shift 2
    "$AXON" run "$@" --live --linger 20 --quiet > /dev/null 2> "$TMP/err" &
    local url=""
    for _ in $(seq 100); do
        url="$(grep -o 'http://[^ ]*' "$TMP/err" | head -1 || true)"
        [ -n "$url" ] && break
        sleep 0.1
    done
    sleep "$wait"
    chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1000,1900 \
        --virtual-time-budget=1500 --screenshot="$out" "$url" 2> /dev/null
    kill %1 2> /dev/null || true
    wait || true
}

shoot docs/figures/live-cuba.png 3 scenarios/cuba-probes.toml --out "$TMP/cuba" \
    --set cuba.duration_ms=120000
shoot docs/figures/live-pc.png 25 scenarios/pc-mnist.toml --out "$TMP/pc" \
    --set train.epochs=4 --set 'compare.baseline="none"' \
    --set 'probe=[{target="layer-1",variable="values",sample=4},{target="layer-3",variable="errors",sample=4},{target="layer-1",variable="free_energy"}]'
echo "wrote docs/figures/probes.png, live-cuba.png, live-pc.png"
