#!/bin/sh
# Makes the podtap-made TLS captures of this directory (needs root, nginx, curl, openssl, tcpdump).
# nginx in a network namespace serves HTTPS for "app.podtap.test" (TLS 1.2 and 1.3, h2 and http/1.1)
# and, as the default server, rejects every other name (ssl_reject_handshake: alert unrecognized_name);
# a second listener on 8443 speaks TLS 1.2 only. tcpdump on the host end of the veth records:
#   09-six-https-one-host.pcap    six curl runs (a connection each) to https://app.podtap.test/
#   10-tls12-http11.pcap          curl --tlsv1.2 --tls-max 1.2 --http1.1 (ALPN http/1.1 chosen in clear)
#   11-tls13-h2.pcap              curl --tlsv1.3 --http2 (ALPN h2 offered, chosen encrypted)
#   12-tls12-h2.pcap              curl --tls-max 1.2 --http2 (ALPN h2 chosen in clear)
#   13-unknown-sni-alert.pcap     openssl s_client -servername other.podtap.test (fatal alert 112)
#   14-tls10-refused-alert.pcap   openssl s_client -tls1 against the TLS 1.2-only listener (fatal alert 70)
# Usage: sh make-captures.sh OUTDIR
set -eu
out=$(cd "${1:-.}" && pwd)
ns=podtap-mkcap-$$
tmp=$(mktemp -d)
cleanup() {
  [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  ip link del mkcap$$h 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns"
ip link add mkcap$$h type veth peer name eth0 netns "$ns"
ip addr add 10.213.250.1/30 dev mkcap$$h
ip link set mkcap$$h up
ip netns exec "$ns" ip addr add 10.213.250.2/30 dev eth0
ip netns exec "$ns" ip link set eth0 up
ip netns exec "$ns" ip link set lo up
# veth offloads would hand tcpdump 64 KB super-segments: turn them off for wire-sized records
ethtool -K mkcap$$h tso off gso off gro off 2>/dev/null || true
ip netns exec "$ns" ethtool -K eth0 tso off gso off gro off 2>/dev/null || true
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=app.podtap.test -days 1 -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
echo hello > "$tmp/index.html"
chmod 755 "$tmp"; chmod 644 "$tmp/index.html"
cat > "$tmp/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $tmp/nginx.pid;
error_log $tmp/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $tmp/body;
  ssl_certificate $tmp/cert.pem;
  ssl_certificate_key $tmp/key.pem;
  ssl_protocols TLSv1.2 TLSv1.3; # nginx 1.22's default lacks TLS 1.3; the default server decides it
  server { listen 10.213.250.2:443 ssl http2 default_server; ssl_reject_handshake on; }
  server { listen 10.213.250.2:443 ssl http2; server_name app.podtap.test; root $tmp; }
  server { listen 10.213.250.2:8443 ssl; server_name app.podtap.test; ssl_protocols TLSv1.2; root $tmp; }
}
CONF
ip netns exec "$ns" nginx -c "$tmp/nginx.conf" -p "$tmp"
sleep 0.5
url=https://app.podtap.test
res="--resolve app.podtap.test:443:10.213.250.2 --resolve app.podtap.test:8443:10.213.250.2"
cap() { # name, then the command
  name=$1; shift
  tcpdump -Z root -i mkcap$$h -s 0 -U -w "$out/$name" tcp 2>/dev/null &
  td=$!
  sleep 2 # tcpdump takes a while to open the interface on a busy machine
  "$@" >/dev/null 2>&1 </dev/null || true
  sleep 1
  kill $td; wait $td 2>/dev/null || true
}
six() { for i in 1 2 3 4 5 6; do curl -sk $res "$url/" -o /dev/null; done; }
cap 09-six-https-one-host.pcap six
cap 10-tls12-http11.pcap curl -sk $res --tlsv1.2 --tls-max 1.2 --http1.1 "$url/"
cap 11-tls13-h2.pcap curl -sk $res --tlsv1.3 --http2 "$url/"
cap 12-tls12-h2.pcap curl -sk $res --tls-max 1.2 --http2 "$url/"
cap 13-unknown-sni-alert.pcap openssl s_client -connect 10.213.250.2:443 -servername other.podtap.test
cap 14-tls10-refused-alert.pcap openssl s_client -connect 10.213.250.2:8443 -servername app.podtap.test -tls1
