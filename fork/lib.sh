# Shell helpers shared by the fork/ scripts.  Sourced, not executed.

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tree=${OVS_TREE:-$top/build/ovs}
state=$tree/.git/ovs-dma

# Directories of the OVS tree in which this repository keeps files of its
# own.  Every file below them (tracked, or new and not ignored) is linked into
# the assembled tree at the same path.
overlay_dirs="Documentation build-aux debian include lib ovsdb rhel tests utilities vswitchd"

# OVS_DMA_PIN: another pin file, for testing these scripts.
pin_file=${OVS_DMA_PIN:-$top/fork/upstream.pin}
. "$pin_file"

# Prints the sha256 that the pin records for Debian revision $1 of the
# upstream source, or nothing if it records none.
upstream_known_sha() {
    local v=$1 w
    if [ "$v" = "$UPSTREAM_VERSION" ]; then
        echo "$UPSTREAM_SHA256"
        return
    fi
    for w in $UPSTREAM_KNOWN; do
        if [ "${w%%=*}" = "$v" ]; then
            echo "${w#*=}"
            return
        fi
    done
}

# Prints the version of package $1 to install for the pinned release: the
# pinned revision if the archive has it, else the archive's newest revision
# of UPSTREAM_BASE, else nothing.
upstream_pick_version() {
    local pkg=$1 v best=
    for v in $(apt-cache madison "$pkg" 2>/dev/null | awk -F'|' '{gsub(/ /, "", $2); print $2}'); do
        if [ "$v" = "$UPSTREAM_VERSION" ]; then
            echo "$v"
            return
        fi
        if [ "${v%-*}" = "$UPSTREAM_BASE" ] &&
           { [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; }; then
            best=$v
        fi
    done
    echo "$best"
}

say() {
    printf '%s\n' "$*"
}

die() {
    printf '%s: error: %s\n' "${0##*/}" "$*" >&2
    exit 1
}

# Runs git in the assembled tree with settings that do not depend on the
# developer's configuration, so that what it writes is the same everywhere.
tree_git() {
    git -C "$tree" -c core.abbrev=12 -c diff.noprefix=false \
        -c diff.mnemonicPrefix=false -c diff.algorithm=myers \
        -c format.signature= -c format.numbered=false "$@"
}

# Prints the fingerprint of what the tree is assembled from: the pin, the
# series and every patch it names, in order.
patches_stamp() {
    {
        cat "$pin_file" "$top/fork/generated-files"
        if [ -f "$top/patches/series" ]; then
            cat "$top/patches/series"
            series | while read -r p; do
                cat "$top/patches/$p"
            done
        fi
    } | sha256sum | cut -d' ' -f1
}

# Prints the patch file names of patches/series, in order.
series() {
    [ -f "$top/patches/series" ] || return 0
    sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$top/patches/series"
}

# Writes the assembled tree as a plain source tree in $1 (which must not
# exist): its committed state, upstream and patches/, plus copies of our
# files with their modes.  No build products, no links: what a source
# package or tarball holds.
export_source() {
    local dest=$1 f n=0
    mkdir -p "$dest"
    git -C "$tree" archive --format=tar HEAD | tar -x -C "$dest"
    while read -r f; do
        [ -f "$top/$f" ] || continue
        mkdir -p "$dest/$(dirname "$f")"
        cp --preserve=mode "$top/$f" "$dest/$f"
        n=$((n + 1))
    done < <(cd "$top" && git ls-files -co --exclude-standard -- $overlay_dirs)
    say "  ${dest#$top/}: ${tree#$top/} at $(git -C "$tree" rev-parse --short HEAD) and $n files of ovs-dma."
}

# Reads an autotest log on stdin; prints "PASS FAIL SKIP" from the last
# verdict of each test (so a test that failed and then passed on upstream's
# RECHECK counts as passed).  failed_test_logs() names the failed ones.
autotest_verdicts() {
    awk '
        /^ *[0-9]+: / {
            n = $1; sub(":", "", n)
            if ($0 ~ / ok$/ || $0 ~ / expected failure( \([^)]*\))?$/) {
                v = "p"
            } else if ($0 ~ / skipped \([^)]*\)$/) {
                v = "s"
            } else if ($0 ~ / FAILED \([^)]*\)$/ || $0 ~ / UNEXPECTED PASS$/) {
                v = "f"
            } else {
                next
            }
            verdict[n] = v
        }
        END {
            for (n in verdict) {
                c[verdict[n]]++
            }
            printf "%d %d %d\n", c["p"], c["f"], c["s"]
        }'
}

# Prints, for each test that autotest log $1 says failed last, its verdict
# line and the last lines of its own log in testsuite directory $2, so that
# a CI run that only shows this script's output tells what went wrong.
failed_test_logs() {
    local log=$1 dir=$2 n
    for n in $(awk '
            /^ *[0-9]+: / {
                n = $1; sub(":", "", n)
                bad[n] = ($0 ~ / FAILED \([^)]*\)$/ || $0 ~ / UNEXPECTED PASS$/)
                line[n] = $0
            }
            END { for (n in bad) if (bad[n]) print n }' "$log" | sort -n); do
        grep -E "^ *$n: " "$log" | tail -n 1 | sed 's/^ */  FAILED: /'
        if [ -f "$dir/$n/testsuite.log" ]; then
            tail -n "${FAILED_LOG_LINES:-40}" "$dir/$n/testsuite.log" \
                | sed 's/^/    | /'
        fi
    done
}
