# shellcheck shell=sh
# Runs inside the code-server pod (tilt/smoke.sh). Fails unless GOLD has the contract's header, at least
# one region row, and was written at or after STARTED (epoch seconds on the pod's clock), i.e. by this run.
# Arguments: GOLD STARTED.
set -eu
gold=$1
started=$2
header=region,orders,units,revenue,avg_order_value
fail() {
    echo "smoke check failed: $*" >&2
    exit 1
}
[ -f "$gold" ] || fail "$gold does not exist"
[ "$(head -n 1 "$gold")" = "$header" ] || fail "$gold starts with '$(head -n 1 "$gold")', not '$header'"
[ "$(wc -l <"$gold")" -ge 2 ] || fail "$gold has a header but no region rows"
[ "$(stat -c %Y "$gold")" -ge "$started" ] || fail "$gold predates this run: medallion_job did not rewrite it"
echo "gold ok: $(($(wc -l <"$gold") - 1)) region row(s) in $gold"
