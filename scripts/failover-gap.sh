#!/usr/bin/env bash
# Measures the failover gap of issue 6 on a fresh local cluster: an acks=all producer at 20,000 records/s, SIGKILL
# 7 s in of the active controller (controller) or of a partition leader that is not the controller (broker), then per
# partition how long after the kill it took writes again. Usage: scripts/failover-gap.sh controller|broker [DIR] [BASE-PORT]
set -u
which=${1:?controller or broker}; dir=${2:-/tmp/kraft-failover}; port=${3:-36092}
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
./kraft cluster down --dir "$dir" >/dev/null 2>&1; rm -rf "$dir"
./kraft cluster up --detach --dir "$dir" --base-port $port >/dev/null 2>&1
B=127.0.0.1:$port,127.0.0.1:$((port+1)),127.0.0.1:$((port+2))
./kraft topics create fail6 -p 6 -r 3 -b $B >/dev/null
sleep 2
leader=$(./kraft quorum describe -b $B -o json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("leaderId", d.get("leader")))')
desc=$(./kraft topics describe fail6 -b $B -o json)
if [[ $which == controller ]]; then victim=$leader; else
  victim=$(echo "$desc" | python3 -c "import json,sys; ls=[p['leader'] for p in json.load(sys.stdin)]; print([x for x in ls if x != $leader][0])"); fi
led=$(echo "$desc" | python3 -c "import json,sys; print([p['partition'] for p in json.load(sys.stdin) if p['leader']==$victim])")
./kraft bench produce --topic fail6 --records 300000 --record-size 100 --acks all --throughput 20000 -b $B -o json > $dir-bench.json 2>$dir-bench.err &
bp=$!
sleep 7
kill_ms=$(date +%s%3N)
kill -9 $(cat "$dir/node-$victim/kraft.pid")
wait $bp
python3 - "$kill_ms" "$victim" "$leader" "$led" "$dir-bench.json" <<'PY'
import json,sys
kill=int(sys.argv[1]); d=json.load(open(sys.argv[5]))
gaps=[(p['partition'], (p['gapEndUnixMs']-kill)/1000) for p in d['partitions']]
print(f"killed node {sys.argv[2]} (raft leader was {sys.argv[3]}; it led partitions {sys.argv[4]}); retries {d['retries']}; records {d['records']}")
print("writable again after the kill (s): " + ", ".join(f"p{p}: {g:.2f}" for p,g in gaps))
PY
./kraft cluster down --dir "$dir" >/dev/null 2>&1
rm -f "$dir-bench.json" "$dir-bench.err"
