#!/bin/sh
# mkinitrd.sh OUT [MARKER]: a busybox initramfs (gzip'd newc cpio) whose /init prints MARKER
# (default "NEMU-LAB: init", what the lab guest prints) on the console and then idles, for
# bench/boot.py and bench/vmm_memory.py when no lab initrd is at hand. The benchmarks kill
# the VMM once the marker arrives. Needs busybox-static, cpio, gzip (Debian packages).
set -eu
out=${1:?usage: mkinitrd.sh OUT [MARKER]}
marker=${2:-NEMU-LAB: init}
bb=$(command -v busybox || true)
[ -n "$bb" ] && file -L "$bb" 2>/dev/null | grep -q 'statically linked' || bb=/bin/busybox
[ -x "$bb" ] || { echo "mkinitrd.sh: busybox-static is required" >&2; exit 1; }
root=$(mktemp -d "${TMPDIR:-/tmp}/nemu-bench-initrd.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/dev" "$root/proc" "$root/sys"
cp "$bb" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cat > "$root/init" <<INIT
#!/bin/sh
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "$marker" > /dev/console
while :; do /bin/busybox sleep 3600; done
INIT
chmod 755 "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet -R 0:0) | gzip -9 > "$out"
