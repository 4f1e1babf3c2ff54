#!/usr/bin/env bash
# Makes the test fixtures in test/images/out (or $1) with the real tools: qemu-img, sgdisk, sfdisk, mkfs.*.
# Deterministic content from fixed seeds; file-system UUIDs and timestamps vary, so tests compare against
# qemu-img's own reading of each file, not stored hashes. Re-running skips work when the stamp is current.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/out}
stamp=$(cat "$here/make.sh" "$here/content.mjs" "$here/make-ova.sh" | sha256sum | cut -c1-16)
if [[ -f $out/.stamp && $(cat "$out/.stamp") == "$stamp" ]]; then exit 0; fi
for tool in qemu-img sgdisk sfdisk mkfs.fat mke2fs; do
  command -v "$tool" >/dev/null || { echo "make.sh: $tool is missing (apt-get install qemu-utils gdisk fdisk dosfstools e2fsprogs)" >&2; exit 1; }
done
rm -rf "$out"; mkdir -p "$out"; cd "$out"
q() { qemu-img "$@" >/dev/null; }
MiB=$((1024 * 1024))

# --- raw bases -------------------------------------------------------------------------------------------
node "$here/content.mjs" 1 $((40 * MiB)) mixed.raw                 # mixed content, 40 MiB
node "$here/content.mjs" 2 $((5 * MiB + 3 * 512)) odd.raw          # size not a multiple of any block
node "$here/content.mjs" 3 $((9 * MiB)) small.raw

# GPT disk: BIOS boot + EFI System (FAT32 with \EFI\BOOT\BOOTX64.EFI) + Linux (ext4). Boots both ways.
truncate -s $((64 * MiB)) gpt-uefi.raw
sgdisk -n 1:2048:4095 -t 1:EF02 -n 2:4096:+40M -t 2:EF00 -n 3:0:0 -t 3:8300 gpt-uefi.raw >/dev/null
mkfs.fat -F 32 -S 512 --offset 4096 gpt-uefi.raw $((40 * 1024)) >/dev/null 2>&1
printf 'MZ fake loader\n' > BOOTX64.EFI
MTOOLS_SKIP_CHECK=1 mmd -i gpt-uefi.raw@@$((4096 * 512)) ::/EFI ::/EFI/BOOT
MTOOLS_SKIP_CHECK=1 mcopy -i gpt-uefi.raw@@$((4096 * 512)) BOOTX64.EFI ::/EFI/BOOT/BOOTX64.EFI
rm BOOTX64.EFI
start3=$(sgdisk -i 3 gpt-uefi.raw | awk '/First sector/ {print $3}')
end3=$(sgdisk -i 3 gpt-uefi.raw | awk '/Last sector/ {print $3}')
mke2fs -q -t ext4 -F -E offset=$((start3 * 512)) gpt-uefi.raw $(((end3 - start3 + 1) / 2))k

# MBR disk: one active Linux partition with ext4, boot code bytes in the MBR.
truncate -s $((32 * MiB)) mbr-bios.raw
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q mbr-bios.raw
printf '\xeb\x63\x90diskport-bootcode' | dd of=mbr-bios.raw conv=notrunc status=none
mke2fs -q -t ext4 -F -E offset=$((2048 * 512)) mbr-bios.raw $(((32 * 1024) - 1024))k

# --- every format and subformat from the bases --------------------------------------------------------------
for base in mixed odd gpt-uefi mbr-bios; do
  q convert -O qcow2 -o compat=1.1 $base.raw $base.qcow2
  q convert -O vmdk -o subformat=streamOptimized $base.raw $base.vmdk
  q convert -O vpc -o subformat=dynamic,force_size=on $base.raw $base-dynamic.vhd
  q convert -O vhdx $base.raw $base.vhdx
done
q convert -O qcow2 -o compat=0.10 mixed.raw mixed-v2.qcow2
q convert -c -O qcow2 mixed.raw mixed-compressed.qcow2
q convert -c -O qcow2 -o compat=0.10,cluster_size=4096 odd.raw odd-compressed-4k.qcow2
q convert -O qcow2 -o cluster_size=2M small.raw small-2m.qcow2
q convert -c -O qcow2 -o compression_type=zstd mixed.raw mixed-zstd.qcow2
q convert -c -O qcow2 -o compression_type=zstd,cluster_size=2M odd.raw odd-zstd-2m.qcow2
q convert -O qcow2 -o cluster_size=512 odd.raw odd-512.qcow2
q convert -O qcow2 -o compat=1.1,lazy_refcounts=on,refcount_bits=1 small.raw small-lazy.qcow2

q convert -O vmdk -o subformat=monolithicSparse mixed.raw mixed-sparse.vmdk
q convert -O vmdk -o subformat=monolithicSparse odd.raw odd-sparse.vmdk
q convert -O vmdk -o subformat=monolithicFlat mixed.raw mixed-flat.vmdk
q convert -O vmdk -o subformat=twoGbMaxExtentSparse mixed.raw mixed-2gb-sparse.vmdk
q convert -O vmdk -o subformat=twoGbMaxExtentFlat odd.raw odd-2gb-flat.vmdk
q convert -O vmdk -o subformat=streamOptimized small.raw small-stream.vmdk

q convert -O vpc -o subformat=fixed,force_size=on mixed.raw mixed-fixed.vhd
q convert -O vpc -o subformat=fixed,force_size=on odd.raw odd-fixed.vhd
q convert -O vpc -o subformat=dynamic small.raw small-chs-dynamic.vhd   # CHS-rounded size, creator qemu

q convert -O vhdx -o subformat=fixed small.raw small-fixed.vhdx
q convert -O vhdx -o block_size=1M odd.raw odd-1m.vhdx
q convert -O vhdx -o block_size=256M,log_size=4M small.raw small-256m.vhdx

# A hand-written descriptor joining several extents of different types and odd sizes.
cat > multi.vmdk <<'VMDK'
# Disk DescriptorFile
version=1
CID=fffffffe
parentCID=ffffffff
createType="twoGbMaxExtentFlat"

# Extent description
RW 10240 FLAT "small.raw" 2048
RW 10243 SPARSE "odd-sparse.vmdk"
RW 3 FLAT "odd.raw" 7

# The Disk Data Base
#DDB

ddb.virtualHWVersion = "4"
ddb.adapterType = "ide"
VMDK

# Images that are valid but need what diskport refuses: a backing file, encryption, an external data file.
q create -f qcow2 -b mixed.qcow2 -F qcow2 child-backing.qcow2
# (legacy AES: LUKS key derivation times itself with getrusage, which fails in some sandboxes)
q create -f qcow2 --object secret,id=sec0,data=diskport -o encrypt.format=aes,encrypt.key-secret=sec0 \
  encrypted.qcow2 $((4 * MiB))
q create -f qcow2 -o data_file=external-data.bin external-data.qcow2 $((4 * MiB))

# Empty but well-formed images (no data at all).
q create -f qcow2 empty.qcow2 $((3 * MiB))
q create -f vmdk -o subformat=streamOptimized empty-stream.vmdk $((3 * MiB))
q create -f vpc -o subformat=dynamic,force_size=on empty-dynamic.vhd $((3 * MiB))
q create -f vhdx empty.vhdx $((3 * MiB))

# --- OVAs built from the disks above ------------------------------------------------------------------
bash "$here/make-ova.sh" "$out"

echo "$stamp" > .stamp
