#!/usr/bin/env bash
# A local OpenSearch 2.19.1 node (k-NN, neural-search, painless, analysis-common) for
# newsdesk's tests, benchmarks and development, assembled from Maven Central.
#
#   scripts/opensearch.sh start [options]   start a node (or find it running); prints its URL last
#   scripts/opensearch.sh stop [--name N]   stop it (SIGTERM, then SIGKILL after a while)
#   scripts/opensearch.sh url [--name N]    print the URL of a running node (exit 3 if none)
#   scripts/opensearch.sh install           download and assemble only
#   scripts/opensearch.sh java              print the JDK 17 it would use (exit 1 if none)
#   scripts/opensearch.sh pid [--name N]    print the node's process id (exit 3 if none)
#   scripts/opensearch.sh destroy --name N  stop a node and delete its data
#
# Start options (all optional; a single node on a free port by default):
#   --name N              instance name [default]; each has its own data, logs and port
#   --port P              HTTP port [a free one, remembered for the next start]
#   --transport-port P    transport port [a free one]
#   --cluster C           cluster name [newsdesk-N]
#   --seed-hosts H:P,...  other nodes' transport addresses (a multi-node cluster)
#   --managers N,...      initial cluster-manager nodes (with --seed-hosts)
#   --roles R,...         node roles [cluster_manager,data,ingest]
#   --heap SIZE           JVM heap [512m]
#   --fresh               delete the instance's data before starting
#
# Environment: NEWSDESK_OPENSEARCH_CACHE (downloads; default
# ${XDG_CACHE_HOME:-~/.cache}/newsdesk/opensearch), NEWSDESK_OPENSEARCH_HOME (assembled
# distribution and node data; default /var/lib/newsdesk-opensearch as root, else the
# cache), NEWSDESK_OPENSEARCH_USER (as root: the unprivileged user that runs the node
# [newsdesk-os]; OpenSearch refuses to run as root), OPENSEARCH_JAVA_HOME (a JDK 17).
#
# The node binds 127.0.0.1 only, has no security plugin (plain HTTP, no passwords) and
# is meant for this machine's tests. Real deployments use the official distribution
# (see the README, "Scaling out: PostgreSQL and OpenSearch").
set -euo pipefail

VERSION=2.19.1
PLUGIN_VERSION=2.19.1.0
ASM=9.7
ANTLR=4.13.1
# Bump when the assembled layout changes, so an older assembly is rebuilt.
RECIPE=1

CACHE="${NEWSDESK_OPENSEARCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/newsdesk/opensearch}"
if [ "$(id -u)" = 0 ]; then
  BASE="${NEWSDESK_OPENSEARCH_HOME:-/var/lib/newsdesk-opensearch}"
  NODE_USER="${NEWSDESK_OPENSEARCH_USER:-newsdesk-os}"
else
  BASE="${NEWSDESK_OPENSEARCH_HOME:-$CACHE}"
  NODE_USER=""
fi
DIST="$BASE/opensearch-$VERSION"
DOWNLOADS="$CACHE/downloads"

log() { echo "opensearch: $*" >&2; }
die() { log "error: $*"; exit 1; }

# -- Java 17 ------------------------------------------------------------------------------
find_java() {
  local candidate
  for candidate in "${OPENSEARCH_JAVA_HOME:-}" /usr/lib/jvm/java-17-openjdk-amd64 \
    /usr/lib/jvm/java-17-openjdk-arm64 /usr/lib/jvm/java-17-openjdk /usr/lib/jvm/temurin-17*; do
    if [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] &&
      "$candidate/bin/java" -version 2>&1 | grep -q 'version "17'; then
      echo "$candidate"
      return 0
    fi
  done
  if command -v java >/dev/null 2>&1 && java -version 2>&1 | grep -q 'version "17'; then
    dirname "$(dirname "$(readlink -f "$(command -v java)")")"
    return 0
  fi
  return 1
}

ensure_java() {
  if JAVA_HOME_17="$(find_java)"; then
    return 0
  fi
  # OpenSearch 2.19 runs on JDK 17 only here: newer JDKs removed the Security Manager.
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing openjdk-17-jdk-headless (OpenSearch 2.19 needs JDK 17)"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless >&2
    JAVA_HOME_17="$(find_java)" && return 0
  fi
  die "OpenSearch needs a JDK 17 (e.g. sudo apt-get install openjdk-17-jdk-headless), or set OPENSEARCH_JAVA_HOME"
}

# -- downloads (Maven Central, through Maven itself) ----------------------------------------
ARTIFACTS=(
  "org.opensearch.distribution.integ-test-zip:opensearch:$VERSION:zip"
  "org.opensearch.plugin:opensearch-knn:$PLUGIN_VERSION:zip"
  "org.opensearch.plugin:neural-search:$PLUGIN_VERSION:zip"
  "org.opensearch.plugin:lang-painless:$VERSION"
  "org.opensearch.plugin:opensearch-scripting-painless-spi:$VERSION"
  "org.opensearch.plugin:analysis-common:$VERSION"
  "org.antlr:antlr4-runtime:$ANTLR"
  "org.ow2.asm:asm:$ASM"
  "org.ow2.asm:asm-util:$ASM"
  "org.ow2.asm:asm-tree:$ASM"
  "org.ow2.asm:asm-commons:$ASM"
  "org.ow2.asm:asm-analysis:$ASM"
)

artifact_file() {  # group:artifact:version[:type] -> file name in $DOWNLOADS
  local IFS=:
  # shellcheck disable=SC2086
  set -- $1
  echo "$2-$3.${4:-jar}"
}

download() {
  mkdir -p "$DOWNLOADS"
  local missing=() a
  for a in "${ARTIFACTS[@]}"; do
    [ -s "$DOWNLOADS/$(artifact_file "$a")" ] || missing+=("$a")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v mvn >/dev/null 2>&1 || {
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      log "installing maven (to fetch OpenSearch from Maven Central)"
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven >&2
    else
      die "maven (mvn) is needed to download OpenSearch from Maven Central"
    fi
  }
  log "downloading ${#missing[@]} artifact(s) from Maven Central into $DOWNLOADS"
  for a in "${missing[@]}"; do
    local tries=0
    until mvn -q -B -Dmaven.repo.local="$CACHE/m2" dependency:copy \
      -Dartifact="$a" -DoutputDirectory="$DOWNLOADS" >&2; do
      tries=$((tries + 1))
      [ $tries -ge 3 ] && die "could not download $a"
      log "retrying $a"
      sleep $((tries * 5))
    done
  done
}

# -- assembly -------------------------------------------------------------------------------
write_module() {  # name classname description extended jar...
  local dir="$1" name="$2" class="$3" desc="$4" extended="$5"
  shift 5
  mkdir -p "$dir"
  local jar
  for jar in "$@"; do cp "$DOWNLOADS/$jar" "$dir/"; done
  cat >"$dir/plugin-descriptor.properties" <<EOF
description=$desc
version=$VERSION
name=$name
classname=$class
java.version=11
opensearch.version=$VERSION
custom.foldername=
extended.plugins=$extended
has.native.controller=false
EOF
}

assemble() {
  local marker="$DIST/.newsdesk-recipe"
  if [ -f "$marker" ] && [ "$(cat "$marker")" = "$RECIPE" ]; then
    return 0
  fi
  ensure_java
  download
  log "assembling OpenSearch $VERSION with k-NN and neural-search in $DIST"
  mkdir -p "$BASE"
  local work
  work="$(mktemp -d "$BASE/.assemble.XXXXXX")"
  if command -v unzip >/dev/null 2>&1; then
    unzip -q "$DOWNLOADS/opensearch-$VERSION.zip" -d "$work"
  else
    python3 -m zipfile -e "$DOWNLOADS/opensearch-$VERSION.zip" "$work"
  fi
  local dist="$work/opensearch-$VERSION"
  chmod +x "$dist"/bin/*
  # k-NN extends lang-painless, published only as jars: lay it out as a module. Painless
  # compiles scripts into classes, hence its two permissions.
  write_module "$dist/modules/lang-painless" lang-painless org.opensearch.painless.PainlessPlugin \
    "An easy, safe and fast scripting language for OpenSearch" "" \
    "lang-painless-$VERSION.jar" "opensearch-scripting-painless-spi-$VERSION.jar" \
    "antlr4-runtime-$ANTLR.jar" "asm-$ASM.jar" "asm-util-$ASM.jar" "asm-tree-$ASM.jar" \
    "asm-commons-$ASM.jar" "asm-analysis-$ASM.jar"
  cat >"$dist/modules/lang-painless/plugin-security.policy" <<'EOF'
grant {
  permission java.lang.RuntimePermission "createClassLoader";
  permission java.lang.RuntimePermission "getClassLoader";
};
EOF
  # analysis-common gives the `english` analyzer (and the whitespace tokenizer's friends).
  write_module "$dist/modules/analysis-common" analysis-common \
    org.opensearch.analysis.common.CommonAnalysisPlugin \
    "Adds common text analysis capabilities to OpenSearch" lang-painless \
    "analysis-common-$VERSION.jar"
  local plugin
  for plugin in "opensearch-knn-$PLUGIN_VERSION.zip" "neural-search-$PLUGIN_VERSION.zip"; do
    OPENSEARCH_JAVA_HOME="$JAVA_HOME_17" "$dist/bin/opensearch-plugin" install --batch \
      "file://$DOWNLOADS/$plugin" >&2
  done
  chmod -R a+rX "$dist"
  echo "$RECIPE" >"$dist/.newsdesk-recipe"
  rm -rf "$DIST"
  mv "$dist" "$DIST"
  rm -rf "$work"
}

# -- node user ------------------------------------------------------------------------------
ensure_user() {
  [ -z "$NODE_USER" ] && return 0
  if ! id -u "$NODE_USER" >/dev/null 2>&1; then
    log "creating the unprivileged user $NODE_USER to run OpenSearch (it refuses root)"
    useradd --system --no-create-home --home-dir "$BASE" --shell /usr/sbin/nologin "$NODE_USER"
  fi
}

as_node_user() {
  if [ -n "$NODE_USER" ]; then
    runuser -u "$NODE_USER" -- "$@"
  else
    "$@"
  fi
}

# -- one node -------------------------------------------------------------------------------
NAME=default PORT="" TPORT="" CLUSTER="" SEEDS="" MANAGERS="" ROLES="" HEAP=512m FRESH=0

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --name) NAME="$2"; shift 2 ;;
      --port) PORT="$2"; shift 2 ;;
      --transport-port) TPORT="$2"; shift 2 ;;
      --cluster) CLUSTER="$2"; shift 2 ;;
      --seed-hosts) SEEDS="$2"; shift 2 ;;
      --managers) MANAGERS="$2"; shift 2 ;;
      --roles) ROLES="$2"; shift 2 ;;
      --heap) HEAP="$2"; shift 2 ;;
      --fresh) FRESH=1; shift ;;
      -h | --help) sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
      *) die "unknown option $1 (see --help)" ;;
    esac
  done
  case "$NAME" in *[!A-Za-z0-9_-]* | "") die "--name must be letters, digits, - or _" ;; esac
  NODE="$BASE/nodes/$NAME"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_busy() {  # a listener holds it (connections in TIME_WAIT do not count: the node
  # binds with SO_REUSEADDR too)
  python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)
EOF
}

node_pid() {
  local pid
  [ -f "$NODE/pid" ] || return 1
  pid="$(cat "$NODE/pid" 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q opensearch "/proc/$pid/cmdline" 2>/dev/null &&
    echo "$pid"
}

node_url() { echo "http://127.0.0.1:$(cat "$NODE/port")"; }

healthy() {
  curl -fsS --max-time 5 "$(node_url)/_cluster/health?wait_for_status=yellow&timeout=3s" \
    2>/dev/null | grep -q '"status":"\(green\|yellow\)"'
}

start() {
  parse_args "$@"
  if node_pid >/dev/null && [ -f "$NODE/port" ] && healthy; then
    log "node '$NAME' is already running"
    node_url
    return 0
  fi
  if pid="$(node_pid)"; then
    # Running but not answering (starting, or stuck): give it the usual start-up time.
    log "node '$NAME' (pid $pid) is running; waiting for it to answer"
    wait_ready "$pid" && { node_url; return 0; }
    die "node '$NAME' (pid $pid) does not answer; stop it with: $0 stop --name $NAME"
  fi
  ensure_java
  assemble
  ensure_user
  if [ "$FRESH" = 1 ]; then rm -rf "$NODE/data"; fi
  mkdir -p "$NODE/data" "$NODE/logs" "$NODE/tmp"
  if [ -z "$PORT" ]; then
    PORT="$(cat "$NODE/port" 2>/dev/null || true)"
    if [ -z "$PORT" ] || port_busy "$PORT"; then PORT="$(free_port)"; fi
  fi
  port_busy "$PORT" && die "port $PORT is in use"
  [ -n "$TPORT" ] || TPORT="$(free_port)"
  echo "$PORT" >"$NODE/port"
  rm -rf "$NODE/config"
  cp -r "$DIST/config" "$NODE/config"
  # The launcher runs from the (read-only) distribution: logs and dumps go to the node.
  sed -i -e "s#logs/gc.log#$NODE/logs/gc.log#" -e "s#HeapDumpPath=data#HeapDumpPath=$NODE/data#" \
    -e "s#ErrorFile=logs/#ErrorFile=$NODE/logs/#" "$NODE/config/jvm.options"
  {
    echo "cluster.name: ${CLUSTER:-newsdesk-$NAME}"
    echo "node.name: $NAME"
    echo "network.host: 127.0.0.1"
    echo "http.port: $PORT"
    echo "transport.port: $TPORT"
    echo "path.data: $NODE/data"
    echo "path.logs: $NODE/logs"
    # A test machine's disk may be nearly full; never turn indexes read-only for it.
    echo "cluster.routing.allocation.disk.threshold_enabled: false"
    if [ -n "$ROLES" ]; then echo "node.roles: [${ROLES}]"; fi
    if [ -n "$SEEDS" ]; then
      echo "discovery.seed_hosts: [${SEEDS}]"
      echo "cluster.initial_cluster_manager_nodes: [${MANAGERS:-$NAME}]"
    else
      echo "discovery.type: single-node"
    fi
  } >"$NODE/config/opensearch.yml"
  rm -f "$NODE/pid"
  [ -n "$NODE_USER" ] && chown -R "$NODE_USER:" "$NODE"
  log "starting node '$NAME' on 127.0.0.1:$PORT (heap $HEAP, logs in $NODE/logs)"
  # Tiered compilation stopped at C1 halves start-up on two cores; the node is for tests.
  (cd "$NODE" && as_node_user env OPENSEARCH_PATH_CONF="$NODE/config" \
    OPENSEARCH_JAVA_HOME="$JAVA_HOME_17" OPENSEARCH_TMPDIR="$NODE/tmp" \
    OPENSEARCH_JAVA_OPTS="-Xms$HEAP -Xmx$HEAP -XX:TieredStopAtLevel=1" \
    "$DIST/bin/opensearch" -d -p "$NODE/pid" >/dev/null 2>"$NODE/logs/start.err") ||
    { tail -n 40 "$NODE/logs/start.err" "$NODE/logs/"*.log >&2 2>/dev/null || true; die "node '$NAME' failed to start"; }
  local waited=0 pid=""
  until pid="$(node_pid)"; do
    sleep 1; waited=$((waited + 1))
    [ $waited -ge 30 ] && die "node '$NAME' wrote no pid file; see $NODE/logs"
  done
  wait_ready "$pid" || {
    tail -n 40 "$NODE/logs/"*.log >&2 2>/dev/null || true
    die "node '$NAME' did not become healthy; see $NODE/logs"
  }
  log "node '$NAME' is up (pid $pid)"
  node_url
}

wait_ready() {  # pid -> 0 when yellow/green; a cluster may need its other nodes first
  local pid="$1" deadline=$((SECONDS + ${NEWSDESK_OPENSEARCH_START_TIMEOUT:-240}))
  while [ $SECONDS -lt $deadline ]; do
    kill -0 "$pid" 2>/dev/null || return 1
    if curl -fsS --max-time 3 "$(node_url)/" >/dev/null 2>&1; then
      [ -n "$SEEDS" ] && return 0
      healthy && return 0
    fi
    sleep 1
  done
  return 1
}

stop() {
  parse_args "$@"
  local pid
  if ! pid="$(node_pid)"; then
    log "node '$NAME' is not running"
    return 0
  fi
  kill "$pid"
  local waited=0
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1; waited=$((waited + 1))
    if [ $waited -ge 60 ]; then kill -9 "$pid" 2>/dev/null || true; fi
  done
  rm -f "$NODE/pid"
  log "node '$NAME' stopped"
}

url() {
  parse_args "$@"
  if node_pid >/dev/null && [ -f "$NODE/port" ]; then
    node_url
  else
    exit 3
  fi
}

destroy() {
  stop "$@"
  rm -rf "$NODE"
}

cmd="${1:-start}"
[ $# -gt 0 ] && shift
case "$cmd" in
  start) start "$@" ;;
  stop) stop "$@" ;;
  url) url "$@" ;;
  install) ensure_java; assemble; ensure_user ;;
  java) find_java || exit 1 ;;
  pid) parse_args "$@"; node_pid || exit 3 ;;
  destroy) destroy "$@" ;;
  -h | --help | help) sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown command $cmd (start, stop, url, install, destroy)" ;;
esac
