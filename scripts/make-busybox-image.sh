#!/bin/sh
# Builds a minimal busybox root filesystem as a tar, for `docker import` / skiff tests.
#   scripts/make-busybox-image.sh OUT      OUT is the tar to write, or a directory
#                                          (then OUT/busybox.tar is written)
# Uses Debian's busybox-static (installed if missing). Every command line here is
# fixed; the only user input is the output path, always passed quoted.
set -eu

if [ "$#" -ne 1 ]; then
  echo "usage: $0 OUT_TAR_OR_DIR" >&2
  exit 2
fi
out="$1"
if [ -d "$out" ]; then out="$out/busybox.tar"; fi

busybox=/bin/busybox
if ! [ -x "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
  # Missing, or the dynamic build of package `busybox`: the image needs the static one.
  DEBIAN_FRONTEND=noninteractive apt-get install -y busybox-static >&2
fi

root="$(mktemp -d)"
chmod 755 "$root"
trap 'rm -rf "$root"' EXIT

mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/etc" \
  "$root/tmp" "$root/var/www" "$root/root" "$root/proc" "$root/sys" "$root/dev" "$root/home"
chmod 1777 "$root/tmp"
chmod 700 "$root/root"
cp "$busybox" "$root/bin/busybox"

# One symlink per applet (sh, ash, ping, nslookup, wget, httpd, nc, ip, sleep, ...).
"$busybox" --list | while read -r applet; do
  case "$applet" in
    busybox|*/*|'') continue ;;
  esac
  ln -sf busybox "$root/bin/$applet"
done

cat > "$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > "$root/etc/group" <<'GROUP'
root:x:0:
daemon:x:1:
tty:x:5:
www-data:x:33:
nogroup:x:65534:
GROUP
: > "$root/etc/hosts"
: > "$root/etc/resolv.conf"
: > "$root/etc/hostname"
echo '<html><body>busybox httpd</body></html>' > "$root/var/www/index.html"

tar --numeric-owner --owner=0 --group=0 --sort=name --mtime='2024-01-01 00:00:00' \
  -C "$root" -cf "$out" .
echo "$out"
