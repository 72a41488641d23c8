#!/usr/bin/env bash
# Records the database captures of `npm run bench`, each from a real server (Debian's packages) driven
# by that server's own benchmark tool:
#   redis.pcap    redis-server; redis-benchmark -t set,get,incr,lpush, once one request per round trip
#                 and once pipelined (-P 16)
#   pgbench.pcap  PostgreSQL; pgbench's TPC-B-like script with -M simple, extended and prepared
#   mysql.pcap    MariaDB; mariadb-slap --auto-generate-sql: INSERTs, SELECTs by key, UPDATEs by key
# Each server runs in its own network namespace behind a veth pair; the client runs on the host, so
# every packet crosses the veth once, and tcpdump records the host side. Fixed request counts (not
# durations), so two runs give files of about the same size; each stays in the tens of MB so that
# `npm run bench` finishes in a couple of minutes. Needs root. Nothing here is committed: the files go
# to bench/out/ (git-ignored). A capture is written to a temp name and renamed only when its run
# succeeded, so a failed run never leaves a partial file that the bench would reuse.
#
#   usage: bench/make-db-captures.sh [outdir=bench/out] [redis] [pgbench] [mysql]   (default: all three)
#
#   root namespace                            namespace podtap-bench-<db>-<pid>
#   pb<x><pid>h  10.213.24<k>.1/30  <── veth ──>  pb<x><pid>n  10.213.24<k>.2/30
#   redis k=1, pgbench k=2, mysql k=3 (HTTP's make-http-capture.sh uses 10.213.250.0/30)
set -euo pipefail
out=${1:-bench/out}
shift || true
which=("$@")
[ ${#which[@]} -gt 0 ] || which=(redis pgbench mysql)
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces, tcpdump)"; exit 2; }

# Debian keeps initdb and postgres in /usr/lib/postgresql/<major>/bin: the newest
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
need() { command -v "$1" >/dev/null || { echo "missing $1: apt-get install -y $2"; exit 2; }; }
need tcpdump tcpdump; need ip iproute2; need setpriv util-linux
for w in "${which[@]}"; do
  case $w in
    redis) need redis-server redis-server; need redis-benchmark redis-tools ;;
    pgbench) need pgbench postgresql-client; [ -x "$pgbin/initdb" ] || { echo "missing initdb: apt-get install -y postgresql"; exit 2; } ;;
    mysql) need mariadbd mariadb-server; need mariadb-install-db mariadb-server; need mariadb-slap mariadb-client; need mariadb mariadb-client ;;
    *) echo "unknown capture '$w' (redis, pgbench, mysql)"; exit 2 ;;
  esac
done
mkdir -p "$out"

work=$(mktemp -d /tmp/podtap-bench-db.XXXXXX)
chmod 755 "$work" # postgres and mysql users must reach their data dirs below it
# Subnet locks shared with src/demo/netns.ts (tests and `podtap demo` pick subnets there), so a test
# running at the same time never takes the same /30.
lockdir=/run/podtap-test/subnets
namespaces=(); links=(); locks=(); pids=()

# teardown: stops what the current phase started (tcpdump, servers), deletes its namespaces and links
teardown() {
  local p ns l
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for ns in "${namespaces[@]}"; do
    # whatever still runs inside (servers started through ip netns exec, and their children)
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
  done
  [ ${#pids[@]} = 0 ] && [ ${#namespaces[@]} = 0 ] || sleep 1
  for ns in "${namespaces[@]}"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  for l in "${links[@]}"; do ip link del "$l" 2>/dev/null || true; done
  for l in "${locks[@]}"; do rm -rf "$l"; done
  namespaces=(); links=(); locks=(); pids=()
}
cleanup() {
  local rc=$?
  teardown
  rm -rf "$work"
  [ $rc = 0 ] || echo "make-db-captures: failed (exit $rc); everything cleaned up" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# netns_up <name> <k>: namespace with the server side at 10.213.24<k>.2; sets ns, hif, sip
netns_up() {
  local name=$1 k=$2 lock=$lockdir/24$2
  mkdir -p "$lockdir"
  if ! mkdir "$lock" 2>/dev/null; then
    local owner; owner=$(cat "$lock/pid" 2>/dev/null || echo 0)
    if [ "$owner" != 0 ] && kill -0 "$owner" 2>/dev/null; then echo "subnet 10.213.24$k.0/30 is in use by pid $owner"; exit 1; fi
    rm -rf "$lock"; mkdir "$lock"
  fi
  echo $$ > "$lock/pid"; locks+=("$lock")
  ns=podtap-bench-$name-$$; hif=pb${name:0:1}$$h; local nif=pb${name:0:1}$$n
  sip=10.213.24$k.2
  namespaces+=("$ns"); ip netns add "$ns"
  links+=("$hif"); ip link add "$hif" type veth peer name "$nif"
  ip link set "$nif" netns "$ns"
  ip addr add "10.213.24$k.1/30" dev "$hif"; ip link set "$hif" up
  ip -n "$ns" addr add "$sip/30" dev "$nif"; ip -n "$ns" link set "$nif" up; ip -n "$ns" link set lo up
  # no IPv6 on the veth: no router solicitations or MLD reports in the capture
  echo 1 > "/proc/sys/net/ipv6/conf/$hif/disable_ipv6" 2>/dev/null || true
}

# wait_port <ip> <port> <seconds>
wait_port() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    if timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$1:$2 not accepting after $3 s"; return 1
}

# capture_start <file> <port>: tcpdump on the host side; -B 131072 (KiB: a 128 MiB kernel buffer) so
# a burst of small packets is not dropped while tcpdump writes; -s 0: whole packets
capture_start() {
  cap_file=$1
  tcpdump -i "$hif" -B 131072 -s 0 -w "$cap_file" "tcp port $2" 2>"$work/tcpdump.log" &
  cap_pid=$!; pids+=("$cap_pid")
  local i
  for ((i = 0; i < 50; i++)); do grep -q 'listening on' "$work/tcpdump.log" && break; sleep 0.1; done
  sleep 0.2
}

# capture_stop <final name>: stops tcpdump, refuses a capture with kernel drops, renames it
capture_stop() {
  # the last ACKs and FINs; then more than libpcap's 1 s block timeout, so the last partly filled ring
  # block reaches tcpdump before it stops (else "captured" falls short of "received by filter")
  sleep 1.5
  kill -INT "$cap_pid"; wait "$cap_pid" 2>/dev/null || true
  tail -3 "$work/tcpdump.log"
  local dropped; dropped=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$work/tcpdump.log")
  if [ "${dropped:-0}" != 0 ]; then echo "tcpdump dropped $dropped packets: the capture is incomplete, not kept"; exit 1; fi
  mv "$cap_file" "$1"
  ls -l "$1"
}

make_redis() {
  netns_up redis 1
  mkdir "$work/redis"
  ip netns exec "$ns" redis-server --bind "$sip" --port 6379 --save '' --appendonly no --protected-mode no \
    --dir "$work/redis" --loglevel warning >"$work/redis/log" 2>&1 &
  pids+=($!)
  wait_port "$sip" 6379 10
  capture_start "$work/redis.pcap" 6379
  # 50 connections (redis-benchmark's default), 3-byte values, random keys among 10000. One request per
  # round trip: 25000 per command (100000 in all; 100000 per command made a 108 MB file, two packets
  # per request). Then 16 in flight per connection (pipelining): 100000 per command, 400000 in all.
  # redis-benchmark's progress lines end in \r: only the summary line of each command is kept.
  local n P
  for n in "25000 1" "100000 16"; do
    read -r n P <<<"$n"
    redis-benchmark -h "$sip" -p 6379 -n "$n" -P "$P" -r 10000 -t set,get,incr,lpush -q | tr '\r' '\n' | grep 'per second' | sed "s/^ */-P $P: /"
  done
  capture_stop "$out/redis.pcap"
}

make_pgbench() {
  netns_up pg 2
  local dir=$work/pg
  mkdir "$dir"; chown postgres:postgres "$dir"
  local as_pg=(setpriv --reuid=postgres --regid=postgres --init-groups)
  # initdb and postgres refuse to run as root
  "${as_pg[@]}" "$pgbin/initdb" -D "$dir/data" -U bench --auth=trust -E UTF8 --no-sync >"$work/initdb.log" 2>&1 ||
    { tail -5 "$work/initdb.log"; exit 1; }
  cat >> "$dir/data/postgresql.conf" <<CONF
listen_addresses = '$sip'
port = 5432
unix_socket_directories = '$dir'
ssl = off
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
  echo 'host all all 10.213.0.0/16 trust' >> "$dir/data/pg_hba.conf"
  ip netns exec "$ns" "${as_pg[@]}" "$pgbin/postgres" -D "$dir/data" >"$dir/log" 2>&1 &
  pids+=($!)
  wait_port "$sip" 5432 30
  # the port opens before recovery ends ("the database system is starting up")
  local i
  for ((i = 0; i < 100; i++)); do psql -h "$sip" -U bench -d postgres -qAtc 'select 1' >/dev/null 2>&1 && break; sleep 0.1; done
  # the tables (scale 1: 100000 accounts), loaded before the capture starts
  pgbench -i -s 1 -q -h "$sip" -U bench postgres >"$work/pgbench-init.log" 2>&1 || { tail -5 "$work/pgbench-init.log"; exit 1; }
  capture_start "$work/pgbench.pcap" 5432
  # 4 clients x 2000 transactions per query mode; a transaction is BEGIN, 3 UPDATEs, a SELECT, an
  # INSERT and END: 56000 statements per mode (1000 per client made 23 MB in all). -n: no VACUUM
  # before the run
  local mode
  for mode in simple extended prepared; do
    pgbench -n -M "$mode" -c 4 -j 2 -t 2000 -h "$sip" -U bench postgres | grep -E 'query mode|processed|tps'
  done
  capture_stop "$out/pgbench.pcap"
}

make_mysql() {
  netns_up mysql 3
  local data=$work/mysql
  mkdir "$data"; chown mysql:mysql "$data"
  mariadb-install-db --no-defaults --user=mysql --datadir="$data" --auth-root-authentication-method=socket --skip-test-db \
    >"$work/install-db.log" 2>&1 || { tail -5 "$work/install-db.log"; exit 1; }
  local sock=$data/mysqld.sock # in the datadir: mariadbd runs as mysql and must create it
  ip netns exec "$ns" mariadbd --no-defaults --user=mysql --datadir="$data" --socket="$sock" --pid-file="$data/mysqld.pid" \
    --log-error="$data/error.log" --bind-address="$sip" --port=3306 --skip-name-resolve --innodb-buffer-pool-size=32M \
    --skip-log-bin --performance-schema=OFF --innodb-flush-log-at-trx-commit=0 >"$work/mariadbd.log" 2>&1 &
  pids+=($!)
  wait_port "$sip" 3306 30
  # the bench user; over the unix socket, which is not captured
  mariadb --no-defaults -S "$sock" -u root -e "CREATE USER 'bench'@'%' IDENTIFIED BY 'bench'; GRANT ALL ON *.* TO 'bench'@'%'"
  capture_start "$work/mysql.pcap" 3306
  # mariadb-slap's auto-generated table, with an AUTO_INCREMENT key, 4 connections, three runs: INSERTs
  # (write), SELECTs by key (key) and UPDATEs by key (update). Every iteration creates the schema,
  # loads 100 rows, runs the queries and drops the schema. Not the default 'mixed' load: its SELECTs
  # have no WHERE and read the whole, growing table (5 x 20000 queries made 2.5 million packets).
  local load
  for load in write key update; do
    echo "load type $load:"
    mariadb-slap --no-defaults -h "$sip" -P 3306 -u bench -pbench --concurrency=4 --iterations=2 --number-of-queries=20000 \
      --auto-generate-sql --auto-generate-sql-add-autoincrement --auto-generate-sql-load-type=$load | grep -E 'Average number'
  done
  capture_stop "$out/mysql.pcap"
}

for w in "${which[@]}"; do
  echo "== $w"
  "make_$w"
  teardown
done
