# shellcheck shell=sh
# Runs inside the seeding pod (tilt/seed-bronze.sh) with a tar of data/bronze/ on stdin. Unpacks it next to
# the bronze files, then renames each file into place, so a run never reads a half-copied input.
# Arguments: BRONZE_DIR ON_CONFLICT (keep: leave files that differ, replace: overwrite them).
set -eu
bronze=$1
on_conflict=$2
case $on_conflict in
    keep | replace) ;;
    *) echo "ON_CONFLICT must be keep or replace, not '$on_conflict'" >&2; exit 2 ;;
esac
rm -rf "$bronze"/.seed-*    # left by a seeding that was interrupted
stage=$(mktemp -d "$bronze/.seed-XXXXXX")
trap 'rm -rf "$stage"' EXIT
tar -C "$stage" -xf -
written=0
for file in "$stage"/*; do
    [ -f "$file" ] || continue
    target="$bronze/${file##*/}"
    if [ -e "$target" ] && cmp -s "$file" "$target"; then
        echo "unchanged: $target"
    elif [ -e "$target" ] && [ "$on_conflict" = keep ]; then
        echo "kept: $target differs from data/bronze/${file##*/}; tick 'Replace files that differ' to overwrite it"
    else
        mv -f "$file" "$target"
        echo "seeded: $target"
        written=$((written + 1))
    fi
done
echo "$written file(s) written to $bronze"
