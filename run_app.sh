#!/usr/bin/env bash
# Set up .venv if needed, then serve the studio on the bundled models (http://localhost:8501).
# Environment: PORT (default 8501), HOST (default localhost), HYPERMAML_DATA (optional real data).
#
# Serving a class (docs/serve_a_class.md): HOST=0.0.0.0 serves every device on the network, not only this
# computer. Browsers allow the camera only on https:// pages (or on localhost), so for the class add HTTPS:
#   HOST=0.0.0.0 HTTPS=1 ./run_app.sh      (or: HOST=0.0.0.0 ./run_app.sh --https)
# HTTPS=1 makes a self-signed certificate for this computer's name and addresses, valid 30 days, in TLS_DIR
# (default ~/.local/share/hypermaml/tls; remade when it expires or the addresses change). Browsers warn about a
# self-signed certificate once ("Advanced", then "Proceed"). CERT_FILE and KEY_FILE use your own certificate
# instead (PEM files; HTTPS is then on). The address students should open is printed at the start.
set -euo pipefail
cd "$(dirname "$0")"
./scripts/ensure_venv.sh
if [ -z "${HYPERMAML_DATA:-}" ] && [ -d ../shared/data ]; then
  export HYPERMAML_DATA="$(cd ../shared/data && pwd)"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# New tasks and episodes are adapted and drawn in worker processes, one per core (app/compute.py): in one
# Python process that work would take turns on a single core. HYPERMAML_STUDIO_WORKERS=0 computes in-process.
# (nproc would obey OMP_NUM_THREADS, hence env -u.)
export HYPERMAML_STUDIO_WORKERS="${HYPERMAML_STUDIO_WORKERS:-$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null || echo 2)}"
# One torch thread per computation, fixed for the whole server before it starts: many visitors' small tensors
# share the cores between visitors, not between halves of one small convolution (and a thread's CPU time stays
# an honest timer). HYPERMAML_STUDIO_THREADS changes it.
export OMP_NUM_THREADS="${HYPERMAML_STUDIO_THREADS:-1}"

host="${HOST:-localhost}"
port="${PORT:-8501}"
https="${HTTPS:-0}"
args=()
for arg in "$@"; do  # --https is ours; everything else goes to streamlit
  if [ "$arg" = "--https" ]; then https=1; else args+=("$arg"); fi
done
case "$https" in 1 | true | yes | on) https=1 ;; *) https=0 ;; esac

# This computer's IPv4 addresses on the network (read from the interfaces; nothing is sent anywhere).
lan_ips() {
  { hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+(\.[0-9]+){3}$' ||
    ip -4 -o addr show scope global 2>/dev/null | awk '{sub(/\/.*/, "", $4); print $4}'; } | grep -v '^127\.' || true
}

tls=()
if [ -n "${CERT_FILE:-}${KEY_FILE:-}" ]; then
  if [ ! -r "${CERT_FILE:-}" ] || [ ! -r "${KEY_FILE:-}" ]; then
    echo "error: CERT_FILE and KEY_FILE must both name readable PEM files (got '${CERT_FILE:-}', '${KEY_FILE:-}')" >&2
    exit 1
  fi
  https=1
  tls=(--server.sslCertFile "$CERT_FILE" --server.sslKeyFile "$KEY_FILE")
elif [ "$https" = 1 ]; then
  if ! command -v openssl >/dev/null 2>&1; then
    echo "error: HTTPS=1 makes its certificate with openssl, which is not installed (apt-get install openssl)," >&2
    echo "       or give your own with CERT_FILE=... KEY_FILE=..." >&2
    exit 1
  fi
  dir="${TLS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/hypermaml/tls}"
  names="DNS:localhost,DNS:$(hostname 2>/dev/null || uname -n),IP:127.0.0.1"
  for ip in $(lan_ips); do names="$names,IP:$ip"; done
  # A new certificate when there is none, it ends within a day, or this computer's name or addresses changed.
  if [ ! -s "$dir/cert.pem" ] || [ ! -s "$dir/key.pem" ] || [ "$(cat "$dir/names" 2>/dev/null)" != "$names" ] ||
    ! openssl x509 -checkend 86400 -noout -in "$dir/cert.pem" >/dev/null 2>&1; then
    mkdir -p "$dir"
    chmod 700 "$dir"
    (
      umask 077
      openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=hypermaml-studio \
        -addext "subjectAltName=$names" -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
    )
    echo "$names" >"$dir/names"
    echo "Made a self-signed certificate for $names (30 days) in $dir" >&2
  fi
  tls=(--server.sslCertFile "$dir/cert.pem" --server.sslKeyFile "$dir/key.pem")
fi

# The address to open, printed now and given to the studio (its "Link" button, opened on this computer, shows
# it instead of localhost, which means nothing on a student's device).
scheme=http
[ "$https" = 1 ] && scheme=https
case "$host" in
  0.0.0.0 | :: | "[::]") shown="$(lan_ips | head -n 1)" ;;
  *) shown="$host" ;;
esac
if [ -n "$shown" ] && [ "$shown" != localhost ] && [ "${shown#127.}" = "$shown" ]; then
  export HYPERMAML_STUDIO_URL="$scheme://$shown:$port"
  echo "Students open: $HYPERMAML_STUDIO_URL  (this computer: $scheme://localhost:$port)" >&2
  [ "$https" = 1 ] || echo "Over plain http the camera is off on students' devices: add HTTPS=1 for it." >&2
else
  echo "Open: $scheme://localhost:$port  (only this computer; HOST=0.0.0.0 serves the network)" >&2
fi

# --runner.postScriptGC false: Streamlit otherwise runs a full garbage collection after every script run, which
# with torch, matplotlib and plotly loaded holds the interpreter lock for about a quarter of a second per click,
# stalling every other visitor's page (Python's own generational collector still runs as usual).
# --server.fileWatcherType none: no reloading when a source file changes (a served studio does not change);
# the watcher walked every loaded module after every run of every visitor, on the thread that talks to all
# browsers: two thirds of the server's own work under load. Developers: add --server.fileWatcherType auto.
# --client.toolbarMode viewer: no "Deploy" button and developer menu on the teacher's own (localhost) screen,
# which the class sees on the projector; students, over the network, never had them.
exec .venv/bin/python -m streamlit run app/studio.py \
  --server.port "$port" --server.address "$host" \
  --server.headless true --browser.gatherUsageStats false --server.maxUploadSize 64 \
  --runner.postScriptGC false --server.fileWatcherType none --client.toolbarMode viewer ${tls[@]+"${tls[@]}"} ${args[@]+"${args[@]}"}
