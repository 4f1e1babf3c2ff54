#!/usr/bin/env bash
# Makes the OVA fixtures in $1 (default test/images/out) from disks make.sh already made there, packed with GNU tar
# in each of its formats (ustar, gnu, pax) so the reader meets what real tools write. Writes only $out/ova-*.ova and
# a scratch folder it removes. Hostile OVAs are built by the test itself (by-hand tar bytes), not here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(cd "${1:-$here/out}" && pwd)
for need in small-stream.vmdk gpt-uefi.vmdk mbr-bios-dynamic.vhd mixed-dynamic.vhd gpt-uefi.vhdx; do
  [[ -f $out/$need ]] || { echo "make-ova.sh: $out/$need is missing (run test/images/make.sh first)" >&2; exit 1; }
done
scratch=$(mktemp -d "$out/ova-scratch.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"

size() { stat -c %s "$1"; }
vsize() { qemu-img info --output=json "$1" | sed -n 's/^ *"virtual-size": \([0-9]*\),*$/\1/p' | head -1; }
# ALGO(name)= hex, the VMware form; `spaced` writes the older ovftool form "SHA1 (name) = hex".
digest() { local algo=$1 name=$2 style=${3:-plain} hex; hex=$(${algo,,}sum "$name" | cut -d' ' -f1)
  if [[ $style == spaced ]]; then printf '%s (%s) = %s\n' "$algo" "$name" "$hex"; else printf '%s(%s)= %s\n' "$algo" "$name" "$hex"; fi; }
# Same mtime, owner and order every run, so the bytes only change when the inputs do.
pack() { local format=$1 target=$2; shift 2
  tar --format="$format" --no-recursion --mtime=@1700000000 --owner=0 --group=0 --numeric-owner -cf "$out/$target" "$@"; }

VMDK_STREAM='http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized'
VHD_URI='http://technet.microsoft.com/en-us/library/bb676673.aspx'
NS1='xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'

# A one-disk OVF 1.x the way ovftool writes it (VMware namespaces, firmware in vmw:Config).
# one_disk_ovf <href> <file size> <capacity bytes> <format URI> [firmware] [compression attribute]
one_disk_ovf() {
  local href=$1 fsize=$2 capacity=$3 uri=$4 firmware=${5:-bios} compression=${6:-}
  cat <<OVF
<?xml version="1.0" encoding="UTF-8"?>
<Envelope vmw:buildId="build-1" $NS1>
  <References>
    <File ovf:href="$href" ovf:id="file1" ovf:size="$fsize"$compression/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="$((capacity / 1048576))" ovf:capacityAllocationUnits="byte * 2^20" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="$uri" ovf:populatedSize="$capacity"/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="VM Network"><Description>The VM Network network</Description></Network>
  </NetworkSection>
  <VirtualSystem ovf:id="small-vm">
    <Info>A virtual machine</Info>
    <Name>small-vm</Name>
    <OperatingSystemSection ovf:id="94" vmw:osType="ubuntu64Guest">
      <Info>The kind of installed guest operating system</Info>
      <Description>Ubuntu Linux (64-bit)</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>small-vm</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-13</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:ElementName>2 virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>2</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:ElementName>2048MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>2048</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:ElementName>SCSI Controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>lsilogic</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard Disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>7</rasd:AddressOnParent>
        <rasd:Connection>VM Network</rasd:Connection>
        <rasd:ElementName>Network adapter 1</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="$firmware"/>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
OVF
}

# --- ova-stream.ova: one streamOptimized VMDK, OVF first, SHA256 manifest (ustar) ------------------------------
cp "$out/small-stream.vmdk" disk1.vmdk
one_disk_ovf disk1.vmdk "$(size disk1.vmdk)" "$(vsize disk1.vmdk)" "$VMDK_STREAM" > vm.ovf
{ digest SHA256 vm.ovf; digest SHA256 disk1.vmdk; } > vm.mf
pack ustar ova-stream.ova vm.ovf vm.mf disk1.vmdk

# --- ova-ovf-last.ova: the disk first, then the OVF, then the manifest (what a careless `tar c *` makes) --------
pack ustar ova-ovf-last.ova disk1.vmdk vm.ovf vm.mf

# --- ova-gnu.ova: GNU format, a 120-character disk name (././@LongLink), CRLF manifest --------------------------
long=$(printf 'd%.0s' {1..112}).vmdk
mv disk1.vmdk "$long"
one_disk_ovf "$long" "$(size "$long")" "$(vsize "$long")" "$VMDK_STREAM" > vm.ovf
{ digest SHA256 vm.ovf; digest SHA256 "$long"; } | sed 's/$/\r/' > vm.mf
pack gnu ova-gnu.ova vm.ovf vm.mf "$long"

# --- ova-pax.ova: pax format, a 120-character disk name in a folder (pax path records) --------------------------
mkdir sub
mv "$long" "sub/$long"
one_disk_ovf "sub/$long" "$(size "sub/$long")" "$(vsize "sub/$long")" "$VMDK_STREAM" > vm.ovf
{ digest SHA512 vm.ovf; digest SHA512 "sub/$long"; } > vm.mf
pack pax ova-pax.ova vm.ovf vm.mf sub "sub/$long"
rm -rf sub vm.ovf vm.mf

# --- ova-two-disks.ova: GPT/UEFI VMDK on SCSI + MBR VHD on SATA, EFI firmware with secure boot, SHA1 manifest ---
cp "$out/gpt-uefi.vmdk" boot.vmdk
cp "$out/mbr-bios-dynamic.vhd" data.vhd
cat > two.ovf <<OVF
<?xml version="1.0" encoding="UTF-8"?>
<!-- two disks: the GPT one boots (UEFI), the MBR one is data -->
<Envelope vmw:buildId="build-2" $NS1>
  <References>
    <File ovf:href="boot.vmdk" ovf:id="file1" ovf:size="$(size boot.vmdk)"/>
    <File ovf:href="data.vhd" ovf:id="file2" ovf:size="$(size data.vhd)"/>
    <File ovf:href="two.nvram" ovf:id="file3" ovf:size="8"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="$(vsize boot.vmdk)" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="$VMDK_STREAM"/>
    <Disk ovf:capacity="32" ovf:capacityAllocationUnits="byte * 2^20" ovf:diskId="vmdisk2" ovf:fileRef="file2" ovf:format="$VHD_URI"/>
    <Disk ovf:capacity="1" ovf:capacityAllocationUnits="byte * 2^30" ovf:diskId="blank" />
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="VM Network"><Description>The VM Network network</Description></Network>
  </NetworkSection>
  <VirtualSystem ovf:id="two-disk-vm">
    <Info>A virtual machine</Info>
    <Name>two-disk-vm</Name>
    <ProductSection><Info>About</Info><Product>diskport test appliance</Product><Version>1.0</Version></ProductSection>
    <OperatingSystemSection ovf:id="101" vmw:osType="other5xLinux64Guest">
      <Info>The kind of installed guest operating system</Info>
      <Description>Other 5.x or later Linux (64-bit)</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemType>vmx-19</vssd:VirtualSystemType>
      </System>
      <Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>4</rasd:VirtualQuantity></Item>
      <Item><rasd:AllocationUnits>byte * 2^30</rasd:AllocationUnits><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>8</rasd:VirtualQuantity></Item>
      <Item><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>
      <Item><rasd:InstanceID>4</rasd:InstanceID><rasd:ResourceSubType>vmware.sata.ahci</rasd:ResourceSubType><rasd:ResourceType>20</rasd:ResourceType></Item>
      <Item><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>5</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
      <Item><rasd:HostResource>ovf:/disk/vmdisk2</rasd:HostResource><rasd:InstanceID>6</rasd:InstanceID><rasd:Parent>4</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
      <Item><rasd:InstanceID>7</rasd:InstanceID><rasd:ResourceType>10</rasd:ResourceType></Item>
      <Item><rasd:InstanceID>8</rasd:InstanceID><rasd:ResourceType>10</rasd:ResourceType></Item>
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="efi"/>
      <vmw:Config ovf:required="false" vmw:key="uefi.secureBoot.enabled" vmw:value="true"/>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
OVF
printf 'NVRAMv1\n' > two.nvram
{ digest SHA1 two.ovf spaced; digest SHA1 boot.vmdk spaced; digest SHA1 data.vhd spaced; digest SHA1 two.nvram spaced; } > two.mf
pack ustar ova-two-disks.ova two.ovf two.mf boot.vmdk data.vhd two.nvram

# --- ova-bad-digest.ova: the same package with one manifest digest changed --------------------------------------
awk 'NR == 2 { h = $NF; $NF = (substr(h, 1, 1) == "0" ? "1" : "0") substr(h, 2) } { print }' two.mf > bad.mf && mv bad.mf two.mf
pack ustar ova-bad-digest.ova two.ovf two.mf boot.vmdk data.vhd two.nvram
rm -f boot.vmdk data.vhd two.nvram two.ovf two.mf

# --- ova-gzip.ova: a dynamic VHD stored with ovf:compression="gzip" -------------------------------------------
gzip -n -c "$out/mixed-dynamic.vhd" > disk1.vhd.gz
one_disk_ovf disk1.vhd.gz "$(size disk1.vhd.gz)" "$(vsize "$out/mixed-dynamic.vhd")" "$VHD_URI" bios \
  ' ovf:compression="gzip"' > gz.ovf
{ digest SHA256 gz.ovf; digest SHA256 disk1.vhd.gz; } > gz.mf
pack ustar ova-gzip.ova gz.ovf gz.mf disk1.vhd.gz
rm -f disk1.vhd.gz gz.ovf gz.mf

# --- ova-ovf2.ova: OVF 2.x namespace under an unusual prefix, a VHDX on SATA, VirtualBox EFI firmware ----------
cp "$out/gpt-uefi.vhdx" disk.vhdx
cat > v2.ovf <<OVF
<?xml version="1.0"?>
<e:Envelope xmlns:e="http://schemas.dmtf.org/ovf/envelope/2" e:version="2.0"
    xmlns:r="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
    xmlns:s="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_StorageAllocationSettingData"
    xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
    xmlns:vbox="http://www.virtualbox.org/ovf/machine">
  <e:References>
    <e:File e:href="disk.vhdx" e:id="f1" e:size="$(size disk.vhdx)"/>
  </e:References>
  <e:DiskSection>
    <e:Info>List of the virtual disks used in the package</e:Info>
    <e:Disk e:capacity="$(vsize disk.vhdx)" e:diskId="d1" e:fileRef="f1" e:format="http://go.microsoft.com/fwlink/?LinkId=226524"/>
  </e:DiskSection>
  <e:VirtualSystem e:id="vbox-vm">
    <e:Info>A virtual machine</e:Info>
    <e:OperatingSystemSection e:id="96">
      <e:Info>The kind of installed guest operating system</e:Info>
      <e:Description>Debian_64</e:Description>
      <vbox:OSType e:required="false">Debian_64</vbox:OSType>
    </e:OperatingSystemSection>
    <e:VirtualHardwareSection>
      <e:Info>Virtual hardware requirements for a virtual machine</e:Info>
      <e:System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemType>virtualbox-2.2</vssd:VirtualSystemType>
      </e:System>
      <e:Item><r:Caption>1 virtual CPU</r:Caption><r:InstanceID>1</r:InstanceID><r:ResourceType>3</r:ResourceType><r:VirtualQuantity>1</r:VirtualQuantity></e:Item>
      <e:Item><r:AllocationUnits>MegaBytes</r:AllocationUnits><r:InstanceID>2</r:InstanceID><r:ResourceType>4</r:ResourceType><r:VirtualQuantity>1024</r:VirtualQuantity></e:Item>
      <e:Item><r:InstanceID>3</r:InstanceID><r:ResourceSubType>AHCI</r:ResourceSubType><r:ResourceType>20</r:ResourceType></e:Item>
      <e:StorageItem><s:HostResource>/disk/d1</s:HostResource><s:InstanceID>4</s:InstanceID><s:Parent>3</s:Parent><s:ResourceType>17</s:ResourceType></e:StorageItem>
    </e:VirtualHardwareSection>
    <vbox:Machine e:required="false" version="1.16-linux" uuid="{00000000-0000-0000-0000-000000000001}" name="vbox-vm">
      <e:Info>Complete VirtualBox machine configuration in VirtualBox format</e:Info>
      <Hardware><Firmware type="EFI"/></Hardware>
    </vbox:Machine>
  </e:VirtualSystem>
</e:Envelope>
OVF
{ digest SHA256 v2.ovf; digest SHA256 disk.vhdx; } > v2.mf
pack ustar ova-ovf2.ova v2.ovf v2.mf disk.vhdx
rm -f disk.vhdx v2.ovf v2.mf
