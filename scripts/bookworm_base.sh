#!/usr/bin/env bash
# Make a local stand-in for python:3.11-slim-bookworm where no registry/engine is reachable:
# debootstrap a minimal Debian bookworm (its python3 is 3.11) from the machine's apt mirror and import the rootfs
# as a buildah image. Cached twice: the image in buildah's store, the rootfs tarball under $CACHE_DIR, so a
# rerun costs nothing and a wiped store costs one import (seconds), not a debootstrap (minutes).
# Usage: scripts/bookworm_base.sh [IMAGE]   (default localhost/bookworm-python:3.11); prints the image name.
set -euo pipefail
IMAGE=${1:-localhost/bookworm-python:3.11}
CACHE_DIR=${SAFERLHF_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/saferlhf/images}
TARBALL=$CACHE_DIR/bookworm-python-rootfs.tar.gz

if buildah inspect --type image "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE"
  exit 0
fi
for tool in buildah debootstrap; do
  command -v "$tool" >/dev/null || { echo "error: $tool not found (apt-get install -y buildah debootstrap)" >&2; exit 2; }
done

# The machine's configured Debian mirror (deb822 or one-line sources), else the public one.
mirror=$(grep -hoE '^URIs: *\S+/debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | awk '{print $2}' || true)
[ -n "$mirror" ] || mirror=$(grep -hoE '^deb +\S+/debian/? +bookworm' /etc/apt/sources.list 2>/dev/null | head -1 | awk '{print $2}' || true)
mirror=${mirror:-http://deb.debian.org/debian}

if [ ! -s "$TARBALL" ]; then
  mkdir -p "$CACHE_DIR"
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  echo "debootstrap bookworm from $mirror (a few minutes, once)" >&2
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" "$mirror" >&2
  # What python:*-slim also leaves out: apt lists, caches, docs, man pages.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/usr/share/doc/* "$root"/usr/share/man/* \
         "$root"/usr/share/locale/* "$root"/var/log/*
  tar -C "$root" --numeric-owner -czf "$TARBALL.tmp" .
  mv "$TARBALL.tmp" "$TARBALL"
fi

ctr=$(buildah from scratch)
buildah add --quiet "$ctr" "$TARBALL" / >/dev/null
buildah config --env LANG=C.UTF-8 --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --cmd python3 --label org.opencontainers.image.description="debootstrap bookworm + python3.11 (local base)" "$ctr"
buildah commit --quiet --rm "$ctr" "$IMAGE" >/dev/null
echo "$IMAGE"
