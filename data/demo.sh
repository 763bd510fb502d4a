#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The demo: builds vigil (installing what is missing), starts three
# simulated cameras on 127.0.0.1 and lets vigild record them into ./demo
# for DEMO_SECONDS (default 30) on a private D-Bus. Halfway, it does what an
# operator would with vigilctl: marks an incident, exports it for the
# police, verifies the bundle with vigilctl and with stock openssl, and
# runs the shift-start self-check; and watches a camera through vigild's
# RTSP server (login demo / demo) as a player would.
# Then it stops vigild with SIGTERM and shows what was recorded.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup build

seconds=${DEMO_SECONDS:-30}
port=${DEMO_PORT:-8554}
live_port=${DEMO_LIVE_PORT:-8555}
demo=$PWD/demo
mkdir -p "$demo/recordings" "$demo/state"
# The viewers' file, as htdigest writes it: user demo, password demo.
printf 'demo:vigil:%s\n' "$(printf 'demo:vigil:demo' | md5sum | cut -d' ' -f1)" > "$demo/viewers"
cat > "$demo/vigil.conf" <<CONF
[storage]
root=$demo/recordings
catalog=$demo/state/catalog.db
segment_seconds=10

[live]
port=$live_port
htdigest=$demo/viewers
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

# A private session bus for vigild and vigilctl, gone when the demo ends.
{ read -r bus_address; read -r bus_pid; } < <(dbus-daemon --session --fork --print-address=1 --print-pid=1)
export DBUS_SESSION_BUS_ADDRESS=$bus_address
trap 'kill $simcam $bus_pid 2>/dev/null || true' EXIT

echo "demo: 3 simulated cameras at rtsp://127.0.0.1:$port/cam0..cam2"
echo "demo: vigild records them into $demo/recordings for $seconds s (log: $demo/vigild.log)"
build/daemon/vigild --session --config "$demo/vigil.conf" 2> "$demo/vigild.log" &
vigild=$!
trap 'kill $vigild $simcam $bus_pid 2>/dev/null || true' EXIT
half=$((seconds / 2))
sleep "$half"

ctl() { echo "\$ vigilctl $*" >&2; build/cli/vigilctl --session "$@"; }
ctl cameras
id=$(ctl incident create cam0,cam1 --from -13s --to -8s --title "demo: someone at the door" --tag demo \
       --note "seen on the entrance feed" --pre-roll 2 --post-roll 2)
echo "demo: incident $id locks cam0 and cam1 from 15 s to 6 s ago against deletion"
mkdir -p "$demo/exports"
bundle=$(ctl export "$id" --out "$demo/exports" --reason "demo: police request")
echo "demo: bundle $bundle:"
ls -l "$bundle" | sed 's/^/  /'
ctl verify "$bundle"
echo "\$ openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin -in manifest.json -sigfile manifest.json.sig" >&2
(cd "$bundle" && openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin -in manifest.json -sigfile manifest.json.sig)
url=$(ctl live cam0)
echo "demo: cam0 is served live at $url (login demo / demo; try: ffplay -rtsp_transport tcp $url)"
if command -v ffprobe > /dev/null; then
  viewer_url="rtsp://demo:demo@127.0.0.1:$live_port/cam0"
  echo "\$ ffprobe ... rtsp://demo:***@127.0.0.1:$live_port/cam0   # 2 s of it, as a player reads it" >&2
  ffprobe -v error -rtsp_transport tcp -select_streams v -count_frames -read_intervals %+2 \
    -show_entries stream=codec_name,width,height,nb_read_frames -of compact "$viewer_url" || true
  ffmpeg -nostdin -loglevel error -rtsp_transport tcp -i "$viewer_url" -t 4 -c copy -f null - &
  viewer=$!
  sleep 2
  ctl sessions
  wait $viewer || true
fi
ctl audit --verify
ctl selfcheck || echo "demo: selfcheck found a problem (above)"
sleep $((seconds - half))
kill -TERM $vigild
wait $vigild && echo "demo: vigild stopped cleanly" || echo "demo: vigild exited with status $?"

echo "demo: segments recorded:"
find "$demo/recordings" -name '*.mkv' -printf '  %P  %s bytes\n' | sort
echo "demo: catalog ($demo/state/catalog.db):"
if command -v sqlite3 >/dev/null; then
  sqlite3 -column -header "$demo/state/catalog.db" \
    "select c.name as camera, count(*) as segments, sum(s.frames) as frames,
            round(sum(s.media_duration_ns) / 1e9, 1) as seconds, sum(s.size_bytes) as bytes
     from segments s join cameras c on c.id = s.camera_id group by c.name"
fi
first=$(find "$demo/recordings" -name '*.mkv' | sort | head -n 1)
echo "demo: watch a segment with:  gst-play-1.0 $first   (or ffplay $first)"
