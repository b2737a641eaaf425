#!/usr/bin/env bash
# Build one Dockerfile target with buildah (no Docker engine needed) and tag it from the package version.
#   scripts/build_image.sh serve     -> $IMAGE_REGISTRY/saferlhf-serve:<version>
#   scripts/build_image.sh pipeline  -> $IMAGE_REGISTRY/saferlhf:<version>
# BASE_IMAGE: the base to build on (e.g. docker.io/library/python:3.11-slim-bookworm where a registry is reachable);
# unset -> a debootstrap'd bookworm + python3.11 made and cached by scripts/bookworm_base.sh.
# Prints the image reference on the last line of stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/build_image.sh serve|pipeline}
case "$target" in
  serve) name=saferlhf-serve ;;
  pipeline) name=saferlhf ;;
  *) echo "error: target must be serve or pipeline, got '$target'" >&2; exit 2 ;;
esac
version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' src/saferlhf/__init__.py)
[ -n "$version" ] || { echo "error: no __version__ in src/saferlhf/__init__.py" >&2; exit 2; }
image=${IMAGE_REGISTRY:-localhost}/$name:$version
if [ -n "${IMAGE_REF_ONLY:-}" ]; then echo "$image"; exit 0; fi  # just the reference (push, tests)
command -v buildah >/dev/null || { echo "error: buildah not found (apt-get install -y buildah)" >&2; exit 2; }
base=${BASE_IMAGE:-$(scripts/bookworm_base.sh | tail -1)}

# Where PyPI is reached through a TLS-inspecting proxy, the machine's pip config names the CA bundle to trust.
# Bind-mount both into the RUN steps (mounts are not committed, so they never end up in an image).
mounts=()
if [ -f /etc/pip.conf ]; then
  mounts+=(-v /etc/pip.conf:/etc/pip.conf:ro)
  cert=$(sed -n 's/^[[:space:]]*cert[[:space:]]*=[[:space:]]*//p' /etc/pip.conf | head -1)
  [ -n "$cert" ] && [ -f "$cert" ] && mounts+=(-v "$cert:$cert:ro")
fi

buildah bud --isolation "${BUILDAH_ISOLATION:-chroot}" --layers --force-rm --format docker --target "$target" \
  --build-arg BASE_IMAGE="$base" "${mounts[@]}" -t "$image" . >&2
echo "$image"
