# Shell helpers shared by the fork/ scripts.  Sourced, not executed.

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() {
    printf '%s\n' "$*"
}

die() {
    printf '%s: error: %s\n' "${0##*/}" "$*" >&2
    exit 1
}

# TARGET: the upstream release that is built (README.md, "Targets").  Each
# has its pin and package list (target_dir), its patch series (patch_dir),
# its build directory (target_out, with the assembled tree in it) and, when
# it is not this machine's Debian release, a Debian root of its own that
# the fork/ scripts run in (target_root, see fork/target-root).
target=${TARGET:-bookworm}
case $target in
    bookworm)
        target_release=12
        target_dir=$top/fork
        patch_dir=$top/patches
        target_out=$top/build
        default_tree=$target_out/ovs
        ;;
    trixie)
        target_release=13
        target_dir=$top/fork/trixie
        patch_dir=$top/patches/trixie
        target_out=$top/build/trixie
        default_tree=$target_out/ovs
        ;;
    *)
        die "unknown TARGET '$target': it is bookworm (the default) or trixie"
        ;;
esac
export TARGET=$target
# fork/target-root sets OVS_DMA_IN_ROOT in the root it runs a command in:
# there, the target builds where it runs, whatever the root's
# /etc/debian_version says (a testing root says "trixie/sid").
target_root=
if [ -n "${OVS_DMA_IN_ROOT:-}" ]; then
    [ "$OVS_DMA_IN_ROOT" = "$target" ] \
        || die "TARGET=$target asked for in the Debian root of TARGET=$OVS_DMA_IN_ROOT"
elif [ "$target_release" != "$(cut -d. -f1 /etc/debian_version 2>/dev/null)" ]; then
    target_root=$target_out/root
fi

tree=${OVS_TREE:-$default_tree}
state=$tree/.git/ovs-dma

# Directories of the OVS tree in which this repository keeps files of its
# own.  Every file below them (tracked, or new and not ignored) is linked into
# the assembled tree at the same path.
overlay_dirs="Documentation build-aux debian include lib ovsdb rhel tests utilities vswitchd"

# OVS_DMA_PIN: another pin file, for testing these scripts.  Messages name
# the target's own.
pin_name=${target_dir#$top/}/upstream.pin
pin_file=${OVS_DMA_PIN:-$top/$pin_name}
. "$pin_file"

# Prints the sha256 of the upstream source, UPSTREAM_SOURCE: of the file for
# a tarball (Debian 12's package), and for a directory (Debian 13's ships the
# unpacked tree) of the list of its files' sha256 sums, by path in C order.
upstream_source_sha() {
    if [ -d "$UPSTREAM_SOURCE" ]; then
        (cd "$UPSTREAM_SOURCE" && find . \( -type f -o -type l \) -print0 \
             | LC_ALL=C sort -z | xargs -0 sha256sum) \
            | sha256sum | cut -d' ' -f1
    else
        sha256sum "$UPSTREAM_SOURCE" | cut -d' ' -f1
    fi
}

# Makes a minimal Debian root of the target's release in directory $1 (which
# must not exist) with debootstrap, from a download kept in target_out for
# the next time, logging to $2: Debian's archive in its sources, and no
# service started by a package install (policy-rc.d), as in any chroot.
# DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR choose the archive.
make_debian_root() {
    local root=$1 log=$2
    local base=$target_out/$target-minbase.tgz
    local mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
    local security_mirror=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

    mkdir -p "$target_out"
    if [ ! -f "$base" ]; then
        say "Downloading a minimal Debian $target_release ($target) with debootstrap (kept in ${base#$top/})..."
        command -v debootstrap >/dev/null \
            || { apt-get update -q >>"$log" 2>&1 &&
                 apt-get install -y -q --no-install-recommends debootstrap >>"$log" 2>&1; } \
            || die "could not install debootstrap"
        rm -rf "$target_out/debootstrap.tmp"
        debootstrap --variant=minbase --make-tarball="$base.tmp" "$target" \
            "$target_out/debootstrap.tmp" "$mirror" >>"$log" 2>&1 \
            || { rm -f "$base.tmp"; die "debootstrap could not download $target from $mirror (log: ${log#$top/})"; }
        rm -rf "$target_out/debootstrap.tmp"
        mv "$base.tmp" "$base"
    fi
    debootstrap --variant=minbase --unpack-tarball="$base" "$target" \
        "$root" "$mirror" >>"$log" 2>&1 \
        || die "debootstrap failed (log: ${log#$top/})"
    rm -f "$root"/etc/apt/sources.list "$root"/etc/apt/sources.list.d/*
    printf '%s' "Types: deb
URIs: $mirror
Suites: $target $target-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security_mirror
Suites: $target-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
" \
        >"$root/etc/apt/sources.list.d/debian.sources"
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
}

# Runs the calling script again in the target's Debian root, if it has one
# and this is not already in it; a script that calls it does all of its
# work there.
enter_target_root() {
    if [ -n "$target_root" ]; then
        exec "$top/fork/target-root" exec "$0" "$@"
    fi
}

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
        if [ -f "$patch_dir/series" ]; then
            cat "$patch_dir/series"
            series | while read -r p; do
                cat "$patch_dir/$p"
            done
        fi
    } | sha256sum | cut -d' ' -f1
}

# Prints the patch file names of patches/series, in order.
series() {
    [ -f "$patch_dir/series" ] || return 0
    sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' "$patch_dir/series"
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
