#!/usr/bin/env bash
# Measures the machine's own limits that Kraft's benchmarks are compared with (docs/performance.md):
# buffered sequential write, sequential write including the final fsync, fsync rate for small and large
# writes (fio), and loopback TCP throughput (iperf3). Usage: scripts/machine-limits.sh [DIR] (default .kraft/limits)
set -euo pipefail
dir="${1:-$(cd "$(dirname "$0")/.." && pwd)/.kraft/limits}"
mkdir -p "$dir"
command -v fio >/dev/null || { echo "fio is not installed (apt-get install fio)" >&2; exit 1; }
run() { fio --directory="$dir" --output-format=json --ioengine=psync --numjobs=1 --group_reporting "$@" ; }
bw() { python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]["write"]; print("%.0f MB/s, %.0f writes/s" % (j["bw_bytes"]/1e6, j["iops"]))'; }
echo "disk: $(df -h "$dir" | tail -1 | awk '{print $1}')  dir: $dir"
echo -n "buffered sequential write (1 MiB writes, 4 GiB, no fsync):        "; run --name=seq --rw=write --bs=1M --size=4G | bw
echo -n "sequential write with final fsync (1 MiB writes, 4 GiB, end_fsync): "; run --name=seqsync --rw=write --bs=1M --size=4G --end_fsync=1 | bw
echo -n "fsync rate, 16 KiB appends (write+fsync each, 15 s):              "; run --name=fsync16k --rw=write --bs=16k --size=1G --fsync=1 --runtime=15 --time_based | bw
echo -n "fsync rate, 1 MiB appends (write+fsync each, 15 s):               "; run --name=fsync1m --rw=write --bs=1M --size=4G --fsync=1 --runtime=15 --time_based | bw
echo -n "fsync rate, 100 B appends (write+fsync each, 15 s):               "; run --name=fsync100 --rw=write --bs=100 --size=64M --fsync=1 --runtime=15 --time_based | bw
# A log appends to a growing file, so every fsync also commits the new file size. fio preallocates by default;
# these two runs do not (fallocate=none), which is the like-for-like baseline for Kraft's fsync-per-batch appends.
echo -n "fsync rate, 16 KiB appends growing the file (fallocate=none):     "; run --name=grow16k --rw=write --bs=16k --size=1G --fsync=1 --runtime=15 --time_based --fallocate=none | bw
echo -n "fsync rate, 1 MiB appends growing the file (fallocate=none):      "; run --name=grow1m --rw=write --bs=1M --size=4G --fsync=1 --runtime=15 --time_based --fallocate=none | bw
rm -f "$dir"/seq* "$dir"/fsync* "$dir"/grow*
if command -v iperf3 >/dev/null; then
  iperf3 -s -1 -B 127.0.0.1 -p 5299 >/dev/null 2>&1 &
  sleep 0.5
  echo -n "loopback TCP (iperf3, 1 stream, 10 s):                           "
  iperf3 -c 127.0.0.1 -p 5299 -t 10 -J | python3 -c 'import json,sys; print("%.0f MB/s" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/8e6))'
  wait || true
fi
