#!/usr/bin/env bash
# Makes the two base images that config/deploy/Dockerfile starts FROM, out
# of files of installed Debian packages, and imports them under the names
# the Dockerfile gives them: for building the image where no image registry
# is reachable (the tests do this). With a registry, you do not need it.
#
#   bash config/deploy/container/bases.sh BINARY
#
# BINARY is an errtally built on this (Debian 12) machine. Both images hold
# the shared libraries it links (ldd: libc6, libgcc-s1), which is what
# distroless/cc adds to a static base. The build stage's image also holds
# busybox (Debian busybox-static) for the stage's shell and coreutils; the
# runtime's holds only the libraries, a passwd and group with distroless'
# nonroot (65532) and /tmp. The docker CLI is used as configured in the
# environment (DOCKER_HOST).
set -euo pipefail

binary=${1:?usage: bases.sh BINARY}
dockerfile="$(dirname "$0")/../Dockerfile"
docker=${DOCKER:-docker}

# The FROM names are the defaults of the Dockerfile's ARGs, so the two can
# never drift apart.
arg_default() {
  local value
  value=$(sed -n "s/^ARG $1=//p" "$dockerfile")
  [[ -n $value ]] || { echo "bases.sh: no ARG $1 default in $dockerfile" >&2; exit 1; }
  echo "$value"
}
rust_image=$(arg_default RUST_IMAGE)
runtime_image=$(arg_default RUNTIME_IMAGE)

busybox=$(command -v busybox) || { echo "bases.sh: busybox (Debian busybox-static) is needed" >&2; exit 1; }
if ldd "$busybox" >/dev/null 2>&1; then
  echo "bases.sh: $busybox is linked dynamically; install busybox-static" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The loader and libraries the binary needs, at the paths it looks them up.
add_libraries() {
  local root=$1 lib
  for lib in $(ldd "$binary" | grep -o '/[^ ]*'); do
    cp -L --parents "$lib" "$root"
  done
}

runtime=$work/runtime
mkdir -p "$runtime/etc" "$runtime/tmp" "$runtime/home/nonroot"
chmod 1777 "$runtime/tmp"
chown 65532:65532 "$runtime/home/nonroot"
add_libraries "$runtime"
cat >"$runtime/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
PASSWD
cat >"$runtime/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
nonroot:x:65532:
GROUP

build=$work/build
mkdir -p "$build/bin" "$build/tmp"
chmod 1777 "$build/tmp"
cp -a "$runtime/etc" "$build/"
add_libraries "$build"
cp "$busybox" "$build/bin/busybox"
for applet in sh cp mkdir chmod chown install ls cat rm; do
  ln -s busybox "$build/bin/$applet"
done

tar -C "$runtime" -c . | "$docker" import --change 'USER 65532:65532' - "$runtime_image" >/dev/null
tar -C "$build" -c . | "$docker" import --change 'ENV PATH=/bin' - "$rust_image" >/dev/null
echo "imported $runtime_image and $rust_image"
