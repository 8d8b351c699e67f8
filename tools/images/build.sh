#!/usr/bin/env bash
# `make images`: builds causeway's OCI images and the lab's workload images with buildah (no
# Docker, no registry: every image is FROM scratch, its root file system assembled here from
# binaries built in this repository or taken from this machine's Debian packages, with the
# shared libraries they link). Each image is committed to buildah's local storage (vfs driver)
# as localhost/<name>:<tag> and written as a docker-archive to $CAUSEWAY_IMAGES (default
# target/images/<name>-<tag>.tar, listed in images.txt), which `causeway-lab up` imports into every node's containerd.
#
#   causeway-controller  the lean controller build (`controller` and `crds` only), non-root
#   causeway             the full binary, plus nft and iptables-legacy-{save,restore} for
#                        `causeway netpeer`; non-root by default (netpeer's DaemonSet runs it as
#                        root with NET_ADMIN only)
#   causeway-serve       the demo workload (`causeway serve`), non-root
#   toolbox              Debian's static busybox (sh, nslookup, wget, nc, ...) for client pods
#   pause                the pod sandbox image (tools/images/pause.c, static)
#   coredns              CoreDNS built by tools/coredns/build.sh: the current release and v1.8.0
#
# Tag: <crate version>-<git commit> (causeway images), the upstream version (pause, coredns).
# $CAUSEWAY_IMAGE_PROFILE picks the cargo profile: `release` (default; the controller image then
# gets the size-optimised lean `deploy` build) or `dev` (the debug build `cargo build` made, in
# every causeway image: `make test` and `make demo` use it, so they compile nothing again).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT_DIR=$PWD
OUT=${CAUSEWAY_IMAGES:-$ROOT_DIR/target/images}
PROFILE=${CAUSEWAY_IMAGE_PROFILE:-release}
VERSION=$(awk -F'"' '/^version = /{print $2; exit}' Cargo.toml)
# The commit, as crates/causeway-cli/build.rs embeds it in the binary (which reads the same
# $CAUSEWAY_COMMIT when set, else asks git).
COMMIT=${CAUSEWAY_COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
TAG="$VERSION-$COMMIT"
SOURCE=https://github.com/causeway-dev/causeway
[ -f /etc/ssl/certs/ca-certificates.crt ] || { echo "images: /etc/ssl/certs/ca-certificates.crt is missing (Debian: apt-get install ca-certificates)" >&2; exit 2; }
for tool in buildah cc ldd nft xtables-legacy-multi; do
  command -v "$tool" >/dev/null || { echo "images: '$tool' is missing (Debian: apt-get install buildah gcc libc6-dev nftables iptables busybox-static)" >&2; exit 2; }
done
[ -x /bin/busybox ] || { echo "images: /bin/busybox is missing (Debian: apt-get install busybox-static)" >&2; exit 2; }
B() { buildah --storage-driver vfs "$@"; }
WORK=$(mktemp -d /tmp/causeway-images.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"

bin_dir() { case "$1" in dev) echo target/debug ;; *) echo "target/$1" ;; esac; }

echo "images: building causeway ($PROFILE)" >&2
cargo build -q --profile "$PROFILE" -p causeway-cli
FULL="$(bin_dir "$PROFILE")/causeway"
if [ "$PROFILE" != release ]; then
  # Debug info is most of a debug build's size; images and every node's import need none of it.
  strip --strip-debug -o "$WORK/causeway.bin" "$FULL"; FULL="$WORK/causeway.bin"
fi
if [ "$PROFILE" = release ]; then
  echo "images: building the lean controller build (profile deploy, target/deploy/causeway)" >&2
  cargo build -q --profile deploy -p causeway-cli --no-default-features
  LEAN=target/deploy/causeway
else
  LEAN=$FULL # a debug image of the controller: the full binary, nothing compiled again
fi

# add ROOTFS FILE [DEST]: copies FILE (to DEST, default the same path) and every shared library
# it links (as ldd resolves them on this machine) into ROOTFS.
add() {
  local root=$1 file=$2 dest=${3:-$2}
  mkdir -p "$root/$(dirname "$dest")"
  cp -L "$file" "$root/$dest"
  { ldd "$file" 2>/dev/null || true; } | awk '/=> \//{print $3} /^[ \t]*\//{print $1}' | while read -r lib; do
    [ -e "$root$lib" ] || { mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"; }
  done
}

# image NAME TAG ROOTFS USER ENTRYPOINT-JSON: commits ROOTFS as localhost/NAME:TAG and writes
# $OUT/NAME-TAG.tar, an archive that imports under that reference.
image() {
  local name=$1 tag=$2 root=$3 user=$4 entry=$5 ref="localhost/$1:$2"
  mkdir -p "$root/tmp" "$root/etc"; chmod 1777 "$root/tmp"
  printf 'root:x:0:0:root:/:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/:/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$root/etc/group"
  cat >"$WORK/$name.Containerfile" <<CF
FROM scratch
COPY . /
USER $user
ENTRYPOINT $entry
CF
  B bud -q --layers=false -f "$WORK/$name.Containerfile" -t "$ref" \
    --label "org.opencontainers.image.source=$SOURCE" \
    --label "org.opencontainers.image.version=$tag" \
    --label "org.opencontainers.image.revision=$COMMIT" \
    --label "org.opencontainers.image.title=$name" "$root" >/dev/null
  rm -f "$OUT/$name-$tag.tar"
  B push -q "$ref" "docker-archive:$OUT/$name-$tag.tar:$ref" >/dev/null
  echo "$ref" >>"$OUT/images.txt.partial"
  echo "images: $ref -> $OUT/$name-$tag.tar" >&2
}

rm -f "$OUT"/images.txt* "$OUT"/*.tar

# The system trust store (Debian's ca-certificates) in every image that talks to apiservers:
# rustls loads it even for a kubeconfig that skips verification, and a peer's public CA may need it.
trust() { mkdir -p "$1/etc/ssl/certs"; cp -L /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/"; }

r="$WORK/controller"; add "$r" "$LEAN" /usr/local/bin/causeway; trust "$r"
image causeway-controller "$TAG" "$r" 65532:65532 '["/usr/local/bin/causeway", "controller"]'

r="$WORK/causeway"; add "$r" "$FULL" /usr/local/bin/causeway; trust "$r"
for tool in nft xtables-legacy-multi; do add "$r" "$(command -v "$tool" || echo "/usr/sbin/$tool")"; done
for link in iptables-legacy iptables-legacy-save iptables-legacy-restore; do ln -sf xtables-legacy-multi "$r/usr/sbin/$link"; done
# iptables' match and target extensions are loaded at run time.
mkdir -p "$r/usr/lib/x86_64-linux-gnu"; cp -a /usr/lib/x86_64-linux-gnu/xtables "$r/usr/lib/x86_64-linux-gnu/"
image causeway "$TAG" "$r" 65532:65532 '["/usr/local/bin/causeway"]'

r="$WORK/serve"; add "$r" "$FULL" /usr/local/bin/causeway
image causeway-serve "$TAG" "$r" 65532:65532 '["/usr/local/bin/causeway", "serve", "--listen=0.0.0.0:8080"]'

# A shell and network tools (nslookup, wget, nc, ...) for test and demo client pods: Debian's
# statically linked busybox with one symlink per applet.
r="$WORK/toolbox"; mkdir -p "$r/bin"; cp /bin/busybox "$r/bin/busybox"
for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -sf busybox "$r/bin/$applet"; done
image toolbox "$TAG" "$r" 65532:65532 '["/bin/sh"]'

r="$WORK/pause"; mkdir -p "$r"; cc -static -Os -o "$r/pause" tools/images/pause.c
image pause 3.10 "$r" 65535:65535 '["/pause"]'

for v in "" v1.8.0; do
  bin=$(bash tools/coredns/build.sh $v)
  ver=$("$bin" -version 2>/dev/null | awk -F- '/CoreDNS-/{print $2; exit}')
  r="$WORK/coredns-${ver}"; add "$r" "$bin" /coredns
  image coredns "$ver" "$r" 65532:65532 '["/coredns"]'
done

mv "$OUT/images.txt.partial" "$OUT/images.txt"
echo "images: done (tag $TAG; list in $OUT/images.txt)" >&2
