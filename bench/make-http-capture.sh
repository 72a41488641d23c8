#!/usr/bin/env bash
# Records a large HTTP/1.1 keep-alive capture for `npm run bench`: nginx in a network namespace behind a
# veth, wrk from the host, tcpdump on the host side of the veth. Needs root. Nothing here is committed:
# the file goes to bench/out/ (git-ignored).
#   usage: bench/make-http-capture.sh [seconds=5] [connections=16] [out=bench/out/http-keepalive.pcap] [close]
#   close: wrk sends `Connection: close`, one request per connection (the recorded short-connection capture)
set -euo pipefail
secs=${1:-5}; conns=${2:-16}; out=${3:-bench/out/http-keepalive.pcap}; mode=${4:-keepalive}
hdr=(); [ "$mode" = close ] && hdr=(-H 'Connection: close')
[ "$(id -u)" = 0 ] || { echo "needs root (network namespace, tcpdump)"; exit 2; }
for t in nginx wrk tcpdump ip; do command -v $t >/dev/null || { echo "missing $t: apt-get install -y nginx-light wrk tcpdump iproute2"; exit 2; }; done
mkdir -p "$(dirname "$out")"
ns=podtap-bench-$$; hif=ptb$$h; nif=ptb$$n
dir=$(mktemp -d)
cleanup() {
  [ -f "$dir/tcpdump.pid" ] && kill "$(cat "$dir/tcpdump.pid")" 2>/dev/null || true
  ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
  sleep 0.2
  ip netns del "$ns" 2>/dev/null || true
  ip link del "$hif" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
ip netns add "$ns"
ip link add "$hif" type veth peer name "$nif"
ip link set "$nif" netns "$ns"
ip addr add 10.213.250.1/30 dev "$hif"; ip link set "$hif" up
ip -n "$ns" addr add 10.213.250.2/30 dev "$nif"; ip -n "$ns" link set "$nif" up; ip -n "$ns" link set lo up
chmod 755 "$dir"; mkdir -p "$dir/www"
head -c 600 /dev/urandom | base64 > "$dir/www/index.html"
cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 10.213.250.2:80;
    root $dir/www;
    location = /api { return 200 "ok\n"; }
    location = /missing { return 404; }
  }
}
CONF
ip netns exec "$ns" nginx -c "$dir/nginx.conf" &
sleep 0.5
tcpdump -i "$hif" -s 0 -w "$out" -U -B 65536 tcp port 80 2>"$dir/tcpdump.log" &
echo $! > "$dir/tcpdump.pid"
sleep 1
wrk -t2 -c"$conns" -d"${secs}s" "${hdr[@]}" http://10.213.250.2/ | tee "$dir/wrk.txt"
wrk -t1 -c4 -d1s "${hdr[@]}" http://10.213.250.2/api >/dev/null
sleep 1
kill -INT "$(cat "$dir/tcpdump.pid")"; wait "$(cat "$dir/tcpdump.pid")" 2>/dev/null || true
rm -f "$dir/tcpdump.pid"
cat "$dir/tcpdump.log" | tail -3
ls -l "$out"
