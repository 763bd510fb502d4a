#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The demo: builds vigil (installing what is missing), starts three
# simulated cameras on 127.0.0.1 and lets vigild record them into ./demo
# for DEMO_SECONDS (default 30), then stops it with SIGTERM and shows what
# was recorded and how to watch it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup build

seconds=${DEMO_SECONDS:-30}
port=${DEMO_PORT:-8554}
demo=$PWD/demo
mkdir -p "$demo/recordings"
cat > "$demo/vigil.conf" <<CONF
[storage]
root=$demo/recordings
catalog=$demo/catalog.db
segment_seconds=10
CONF
for i in 0 1 2; do
  printf '\n[camera cam%s]\nurl=rtsp://127.0.0.1:%s/cam%s\n' "$i" "$port" "$i" >> "$demo/vigil.conf"
done

build/tests/simcam/vigil-simcam --streams 3 --port "$port" --size 1280x720 --bitrate 2000 \
  --clip-cache "$demo/clip-720p.h264" --no-stdin > "$demo/simcam.log" 2>&1 &
simcam=$!
trap 'kill $simcam 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do grep -q '^ready' "$demo/simcam.log" && break; sleep 0.5; done
grep -q '^ready' "$demo/simcam.log" || { cat "$demo/simcam.log"; exit 1; }

echo "demo: 3 simulated cameras at rtsp://127.0.0.1:$port/cam0..cam2"
echo "demo: vigild records them into $demo/recordings for $seconds s (log: $demo/vigild.log)"
build/daemon/vigild --config "$demo/vigil.conf" 2> "$demo/vigild.log" &
vigild=$!
sleep "$seconds"
kill -TERM $vigild
wait $vigild && echo "demo: vigild stopped cleanly" || echo "demo: vigild exited with status $?"

echo "demo: segments recorded:"
find "$demo/recordings" -name '*.mkv' -printf '  %P  %s bytes\n' | sort
echo "demo: catalog ($demo/catalog.db):"
if command -v sqlite3 >/dev/null; then
  sqlite3 -column -header "$demo/catalog.db" \
    "select c.name as camera, count(*) as segments, sum(s.frames) as frames,
            round(sum(s.media_duration_ns) / 1e9, 1) as seconds, sum(s.size_bytes) as bytes
     from segments s join cameras c on c.id = s.camera_id group by c.name"
fi
first=$(find "$demo/recordings" -name '*.mkv' | sort | head -n 1)
echo "demo: watch a segment with:  gst-play-1.0 $first   (or ffplay $first)"
