# shellcheck shell=bash
# Sourced by ci/run_ci.sh (and by developers: `source ci/docker_env.sh; autosd_docker_up`).
# Owns the Docker side of the test environment: installing the packages, a private dockerd
# on its own socket, data-root, exec-root and pidfile under one temp dir (made a single-node
# swarm manager), the test images, two private registries holding them (one open, one that
# demands a password), and stopping all of it again. It never touches a system dockerd,
# /var/lib/docker or a system registry.

AUTOSD_PACKAGES=(docker.io docker-registry busybox-static git hyperfine iproute2)

# Installs the Debian packages the tests need, only those missing; `apt-get update` at most once.
autosd_install_packages() {
    local missing=()
    local pkg
    for pkg in "${AUTOSD_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        echo "packages: all present (${AUTOSD_PACKAGES[*]})"
        return 0
    fi
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
        echo "packages: missing ${missing[*]} and cannot install them (not root or no apt-get)" >&2
        return 1
    fi
    echo "packages: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The Debian client matches the Debian daemon; another `docker` earlier on PATH (a newer
# client without buildx, say) would work too but prints warnings.
autosd_docker_cli() {
    if [ -x /usr/bin/docker ]; then echo /usr/bin/docker; else command -v docker; fi
}

# Several private dockerds may run on one machine at once (CI runs of different worktrees).
# Each gets its own bridge and leaves iptables alone, so they never fight over docker0 or the
# DOCKER chains; published ports still work through docker-proxy on 127.0.0.1. Falls back to
# Docker's default bridge when iproute2 is missing or the bridge cannot be made.
autosd_make_bridge() {
    AUTOSD_BRIDGE=""
    AUTOSD_NET_FLAGS=()
    command -v ip >/dev/null || return 0
    local n
    for n in $(seq $(( $$ % 200 + 20 )) 250) $(seq 20 250); do
        if ! ip -4 addr show 2>/dev/null | grep -q "inet 10\.213\.$n\."; then
            local name="autosd$n"
            if ip link add name "$name" type bridge 2>/dev/null; then
                ip addr add "10.213.$n.1/24" dev "$name" && ip link set "$name" up || {
                    ip link del "$name" 2>/dev/null
                    return 0
                }
                AUTOSD_BRIDGE="$name"
                AUTOSD_NET_FLAGS=(--bridge "$name" --iptables=false --ip-masq=false)
                return 0
            fi
        fi
    done
}

# Starts a private dockerd and exports DOCKER_HOST. Tries overlay2 first, then vfs (overlay on
# overlay, as inside some containers, is refused by the kernel).
autosd_start_dockerd() {
    AUTOSD_DOCKER_DIR="$(mktemp -d /tmp/autosd-dockerd.XXXXXX)"
    export AUTOSD_DOCKER_DIR
    autosd_make_bridge
    local sock="$AUTOSD_DOCKER_DIR/docker.sock"
    local driver
    for driver in overlay2 vfs; do
        echo "dockerd: starting (storage driver $driver, bridge ${AUTOSD_BRIDGE:-docker0}) in $AUTOSD_DOCKER_DIR"
        dockerd \
            --host "unix://$sock" \
            --data-root "$AUTOSD_DOCKER_DIR/data" \
            --exec-root "$AUTOSD_DOCKER_DIR/exec" \
            --pidfile "$AUTOSD_DOCKER_DIR/docker.pid" \
            --storage-driver "$driver" \
            "${AUTOSD_NET_FLAGS[@]}" \
            >"$AUTOSD_DOCKER_DIR/dockerd-$driver.log" 2>&1 &
        AUTOSD_DOCKERD_PID=$!
        export AUTOSD_DOCKERD_PID
        local i
        for i in $(seq 1 60); do
            if DOCKER_HOST="unix://$sock" "$(autosd_docker_cli)" version >/dev/null 2>&1; then
                export DOCKER_HOST="unix://$sock"
                echo "dockerd: answering at $DOCKER_HOST after ~$((i / 2)) s (pid $AUTOSD_DOCKERD_PID)"
                return 0
            fi
            if ! kill -0 "$AUTOSD_DOCKERD_PID" 2>/dev/null; then break; fi
            sleep 0.5
        done
        echo "dockerd: storage driver $driver did not come up; last log lines:" >&2
        tail -n 15 "$AUTOSD_DOCKER_DIR/dockerd-$driver.log" >&2 || true
        autosd_stop_dockerd keep-bridge
        AUTOSD_DOCKER_DIR="$(mktemp -d /tmp/autosd-dockerd.XXXXXX)"
        sock="$AUTOSD_DOCKER_DIR/docker.sock"
    done
    autosd_drop_bridge
    return 1
}

autosd_drop_bridge() {
    if [ -n "${AUTOSD_BRIDGE:-}" ]; then
        ip link del "$AUTOSD_BRIDGE" 2>/dev/null || true
        # The swarm's gateway bridge (autosd_swarm_init), if the daemon left it behind.
        ip link del "autosdgw${AUTOSD_BRIDGE#autosd}" 2>/dev/null || true
        AUTOSD_BRIDGE=""
    fi
}

# Stops the private dockerd (SIGTERM, then SIGKILL after 20 s) and removes its directory and
# bridge (`keep-bridge`: not the bridge). Safe to call twice and when nothing was started.
autosd_stop_dockerd() {
    local pid="${AUTOSD_DOCKERD_PID:-}"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        local cli
        cli="$(autosd_docker_cli)"
        # Containers first, so no shim outlives the daemon.
        local ids
        ids="$("$cli" ps -aq 2>/dev/null || true)"
        if [ -n "$ids" ]; then
            # shellcheck disable=SC2086
            "$cli" rm -f $ids >/dev/null 2>&1 || true
        fi
        kill -TERM "$pid" 2>/dev/null || true
        local i
        for i in $(seq 1 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        echo "dockerd: stopped (pid $pid)"
    fi
    AUTOSD_DOCKERD_PID=""
    if [ -n "${AUTOSD_DOCKER_DIR:-}" ] && [ -d "$AUTOSD_DOCKER_DIR" ]; then
        # The data-root may hold overlay mounts until the daemon is gone.
        umount -R "$AUTOSD_DOCKER_DIR/data" 2>/dev/null || true
        rm -rf "$AUTOSD_DOCKER_DIR" 2>/dev/null || true
    fi
    if [ "${1:-}" != keep-bridge ]; then
        autosd_drop_bridge
    fi
}

# Builds the test images with `docker import` from a busybox-static rootfs (no registry):
#   autosd-test/web:v1, :v2   busybox httpd on $PORT (8080) serving /, /health; HEALTHCHECK on /health
#   autosd-test/web:degrading same as v2 with FAIL_AFTER=3: healthy first, unhealthy after 3 s
#   autosd-test/unhealthy     serves / but has no /health: HEALTHCHECK and HTTP probes fail
#   autosd-test/crash         exits with status 3 at once
# Any web image turns unhealthy when FAIL_AFTER=N (seconds) is set or /tmp/fail exists.
autosd_build_test_images() {
    local cli busybox work
    cli="$(autosd_docker_cli)"
    busybox="$(command -v busybox)"
    work="$(mktemp -d /tmp/autosd-images.XXXXXX)"
    local name
    for name in v1 v2 unhealthy crash; do
        local root="$work/$name"
        mkdir -p "$root/bin" "$root/www" "$root/tmp"
        cp "$busybox" "$root/bin/busybox"
        local applet
        for applet in sh httpd wget sleep touch rm test cat; do
            ln -s busybox "$root/bin/$applet"
        done
        cat >"$root/bin/serve" <<'SCRIPT'
#!/bin/sh
# Serves /www on $PORT; with FAIL_AFTER=N the health endpoint goes away after N seconds.
PORT="${PORT:-8080}"
if [ -n "$FAIL_AFTER" ]; then
    ( sleep "$FAIL_AFTER"; touch /tmp/fail; rm -f /www/health ) &
fi
exec httpd -f -p "$PORT" -h /www
SCRIPT
        # No `wget -T`: it segfaults in Debian bookworm's static busybox 1.35; HEALTHCHECK --timeout bounds it.
    cat >"$root/bin/healthcheck" <<'SCRIPT'
#!/bin/sh
test ! -e /tmp/fail && wget -q -O /dev/null "http://127.0.0.1:${PORT:-8080}/health"
SCRIPT
        chmod 0755 "$root/bin/serve" "$root/bin/healthcheck"
        chmod 1777 "$root/tmp"
        echo "autosd-test web $name" >"$root/www/index.html"
        if [ "$name" != unhealthy ]; then echo ok >"$root/www/health"; fi
    done
    local health='HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD ["/bin/healthcheck"]'
    local ver
    for ver in v1 v2; do
        tar -C "$work/$ver" -c . | "$cli" import \
            --change "$health" --change 'EXPOSE 8080' --change 'CMD ["/bin/serve"]' \
            - "autosd-test/web:$ver" >/dev/null
    done
    tar -C "$work/v2" -c . | "$cli" import \
        --change "$health" --change 'EXPOSE 8080' --change 'ENV FAIL_AFTER=3' --change 'CMD ["/bin/serve"]' \
        - autosd-test/web:degrading >/dev/null
    tar -C "$work/unhealthy" -c . | "$cli" import \
        --change "$health" --change 'EXPOSE 8080' --change 'CMD ["/bin/serve"]' \
        - autosd-test/unhealthy:latest >/dev/null
    tar -C "$work/crash" -c . | "$cli" import \
        --change 'CMD ["sh", "-c", "echo crashing >&2; exit 3"]' \
        - autosd-test/crash:latest >/dev/null
    rm -rf "$work"
    "$cli" image ls --format '{{.Repository}}:{{.Tag}} {{.ID}}' | grep '^autosd-test/' | sed 's/^/image: /'
}

# Serves Debian's docker-registry from directory $1 on the first free loopback port from 5000
# (several CI runs may share a machine), with the config lines $2 added (an `auth:` block, or
# nothing). Sets AUTOSD_SERVED_ADDR and AUTOSD_SERVED_PID; fails with the log's tail.
autosd_serve_registry() {
    local dir="$1" extra="$2" port
    for port in $(seq 5000 5050); do
        # Something answers there already: another run's registry, or another service.
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi
        cat >"$dir/config.yml" <<CONFIG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
$extra
CONFIG
        docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
        AUTOSD_SERVED_PID=$!
        local i
        for i in $(seq 1 40); do
            if ! kill -0 "$AUTOSD_SERVED_PID" 2>/dev/null; then break; fi
            # Listening (the port was free before it started): /v2/ would answer 401 with auth.
            if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                AUTOSD_SERVED_ADDR="127.0.0.1:$port"
                return 0
            fi
            sleep 0.25
        done
        # Lost a race for the port (or failed): try the next one.
        kill -TERM "$AUTOSD_SERVED_PID" 2>/dev/null || true
        wait "$AUTOSD_SERVED_PID" 2>/dev/null || true
    done
    echo "registry: could not start; last log lines:" >&2
    tail -n 15 "$dir/registry.log" >&2 || true
    return 1
}

# The user and password of the authenticating test registry (tests/it/swarm.rs knows them).
AUTOSD_AUTH_USER=autosd-test
AUTOSD_AUTH_PASSWORD=pw-never-shown-7f3a

# Starts two registries with storage in a temp dir: an open one, exported as
# AUTOSD_TEST_REGISTRY=127.0.0.1:PORT (Swarm services pin images by registry digest, so the
# swarm tests need one; Docker treats loopback registries as insecure, plain HTTP, by
# default), and one that demands a password (htpasswd, bcrypt made by libxcrypt through
# perl), exported as AUTOSD_TEST_AUTH_REGISTRY, for the private-registry test.
autosd_start_registry() {
    AUTOSD_REGISTRY_DIR="$(mktemp -d /tmp/autosd-registry.XXXXXX)"
    export AUTOSD_REGISTRY_DIR
    mkdir -p "$AUTOSD_REGISTRY_DIR/open" "$AUTOSD_REGISTRY_DIR/auth"
    if ! autosd_serve_registry "$AUTOSD_REGISTRY_DIR/open" ""; then
        autosd_stop_registry
        return 1
    fi
    AUTOSD_REGISTRY_PID="$AUTOSD_SERVED_PID"
    export AUTOSD_REGISTRY_PID AUTOSD_TEST_REGISTRY="$AUTOSD_SERVED_ADDR"
    echo "registry: answering at $AUTOSD_TEST_REGISTRY (pid $AUTOSD_REGISTRY_PID)"
    local salt=abcdefghijklmnopqrstuu
    AUTOSD_AUTH_PASSWORD="$AUTOSD_AUTH_PASSWORD" perl -e \
        'print "'"$AUTOSD_AUTH_USER"':", crypt($ENV{AUTOSD_AUTH_PASSWORD}, q{$2b$05$} . "'"$salt"'"), "\n"' \
        >"$AUTOSD_REGISTRY_DIR/auth/htpasswd"
    if ! autosd_serve_registry "$AUTOSD_REGISTRY_DIR/auth" "auth:
  htpasswd:
    realm: autosd-test
    path: $AUTOSD_REGISTRY_DIR/auth/htpasswd"; then
        autosd_stop_registry
        return 1
    fi
    AUTOSD_AUTH_REGISTRY_PID="$AUTOSD_SERVED_PID"
    export AUTOSD_AUTH_REGISTRY_PID AUTOSD_TEST_AUTH_REGISTRY="$AUTOSD_SERVED_ADDR"
    echo "registry: answering with a password at $AUTOSD_TEST_AUTH_REGISTRY (pid $AUTOSD_AUTH_REGISTRY_PID)"
}

# Stops the registries and removes their storage. Safe to call twice and when nothing was started.
autosd_stop_registry() {
    local pid
    for pid in "${AUTOSD_REGISTRY_PID:-}" "${AUTOSD_AUTH_REGISTRY_PID:-}"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            echo "registry: stopped (pid $pid)"
        fi
    done
    AUTOSD_REGISTRY_PID=""
    AUTOSD_AUTH_REGISTRY_PID=""
    if [ -n "${AUTOSD_REGISTRY_DIR:-}" ] && [ -d "$AUTOSD_REGISTRY_DIR" ]; then
        rm -rf "$AUTOSD_REGISTRY_DIR"
    fi
}

# Makes the private dockerd a single-node swarm manager. It runs with its own bridge and
# --iptables=false: that is enough for services that publish ports with mode=host (a
# docker-proxy per task, like `docker run -p`); the ingress routing mesh would need IPVS,
# which these kernels lack, so autosd's swarm target publishes in host mode only.
# Several private swarms may run on one machine (CI runs of different worktrees), so each
# keeps to its own: it listens and gossips on its own loopback address 127.0.0.N (the
# manager port 2377 and gossip port 7946 are then per address), uses its own VXLAN port,
# and gets its own gateway bridge instead of a shared host-wide `docker_gwbridge`; N is the
# number of its private bridge (`autosd<N>`), 1 without one.
autosd_swarm_init() {
    local cli
    cli="$(autosd_docker_cli)"
    if [ "$("$cli" info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null)" = active ]; then
        echo "swarm: already a manager"
        return 0
    fi
    local n=1
    if [ -n "${AUTOSD_BRIDGE:-}" ]; then
        n="${AUTOSD_BRIDGE#autosd}"
        "$cli" network create --driver bridge --subnet "10.214.$n.0/24" \
            --opt com.docker.network.bridge.name="autosdgw$n" \
            --opt com.docker.network.bridge.enable_icc=false \
            --opt com.docker.network.bridge.enable_ip_masquerade=false \
            docker_gwbridge >/dev/null
    fi
    "$cli" swarm init --advertise-addr "127.0.0.$n" --listen-addr "127.0.0.$n:2377" \
        --data-path-port "$((4800 + n))" >/dev/null
    echo "swarm: initialised (single node, manager on 127.0.0.$n:2377, VXLAN port $((4800 + n)))"
}

# Tags the test images into the registry and pushes them, so services can pin them by digest.
autosd_push_test_images() {
    local cli registry="${AUTOSD_TEST_REGISTRY:?start the registry first}"
    cli="$(autosd_docker_cli)"
    local image
    for image in autosd-test/web:v1 autosd-test/web:v2 autosd-test/web:degrading \
        autosd-test/unhealthy:latest autosd-test/crash:latest; do
        "$cli" tag "$image" "$registry/$image"
        "$cli" push -q "$registry/$image" >/dev/null
    done
    echo "registry: pushed the test images to $registry"
    local private="${AUTOSD_TEST_AUTH_REGISTRY:-}"
    if [ -z "$private" ]; then return 0; fi
    # web:v1 into the registry with a password, logged in through a config of its own; then
    # the engine forgets that name, so a service of it must pull with credentials.
    local config="$AUTOSD_REGISTRY_DIR/client"
    mkdir -p "$config"
    # (Its warning about the unencrypted password is expected: the file is a throwaway.)
    if ! printf '%s' "$AUTOSD_AUTH_PASSWORD" | DOCKER_CONFIG="$config" "$cli" login \
        -u "$AUTOSD_AUTH_USER" --password-stdin "$private" >/dev/null 2>&1; then
        echo "registry: cannot log in to $private" >&2
        return 1
    fi
    "$cli" tag autosd-test/web:v1 "$private/autosd-test/web:v1"
    DOCKER_CONFIG="$config" "$cli" push -q "$private/autosd-test/web:v1" >/dev/null
    "$cli" rmi "$private/autosd-test/web:v1" >/dev/null
    local ref
    for ref in $("$cli" image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' \
        autosd-test/web:v1 | grep "^$private/" || true); do
        "$cli" rmi "$ref" >/dev/null
    done
    echo "registry: pushed autosd-test/web:v1 to $private (password required)"
}
