/**
 * On-disk partition-table structures, declared once. Section numbers refer to the UEFI Specification 2.10,
 * chapter 5 "GUID Partition Table (GPT) Disk Layout". All integers are little-endian.
 */
import { defineStruct } from '../struct/index.js';

/** UEFI 2.10 section 5.2.1 "Legacy Master Boot Record (MBR)", Table 5-1: the 512 bytes at LBA 0. */
export const MasterBootRecord = defineStruct('MasterBootRecord', 512, {
  bootCode: [0, 'bytes', 440],
  uniqueMbrDiskSignature: [440, 'u32le'],
  unknown: [444, 'u16le'],
  partitionRecords: [446, 'bytes', 64],
  signature: [510, 'u16le'],
});

/** UEFI 2.10 section 5.2.1, Table 5-2 "Legacy MBR Partition Record": one of the four 16-byte records. */
export const MbrPartitionRecord = defineStruct('MbrPartitionRecord', 16, {
  bootIndicator: [0, 'u8'],
  startingChs: [1, 'bytes', 3],
  osType: [4, 'u8'],
  endingChs: [5, 'bytes', 3],
  startingLba: [8, 'u32le'],
  sizeInLba: [12, 'u32le'],
});

/** UEFI 2.10 section 5.3.2 "GPT Header", Table 5-5. The rest of the header's block is reserved (zero). */
export const GptHeader = defineStruct('GptHeader', 92, {
  signature: [0, 'ascii', 8],
  revision: [8, 'u32le'],
  headerSize: [12, 'u32le'],
  headerCrc32: [16, 'u32le'],
  reserved: [20, 'u32le'],
  myLba: [24, 'u64le'],
  alternateLba: [32, 'u64le'],
  firstUsableLba: [40, 'u64le'],
  lastUsableLba: [48, 'u64le'],
  diskGuid: [56, 'guid'],
  partitionEntryLba: [72, 'u64le'],
  numberOfPartitionEntries: [80, 'u32le'],
  sizeOfPartitionEntry: [84, 'u32le'],
  partitionEntryArrayCrc32: [88, 'u32le'],
});

/** UEFI 2.10 section 5.3.3 "GPT Partition Entry Array", Table 5-6: the first 128 bytes of each entry. */
export const GptPartitionEntry = defineStruct('GptPartitionEntry', 128, {
  partitionTypeGuid: [0, 'guid'],
  uniquePartitionGuid: [16, 'guid'],
  startingLba: [32, 'u64le'],
  endingLba: [40, 'u64le'],
  attributes: [48, 'u64le'],
  partitionName: [56, 'utf16le', 72],
});

/** Boot signature of the legacy MBR: bytes 55 AA at offset 510. */
export const MBR_SIGNATURE = 0xaa55;
/** "EFI PART", the GPT header signature. */
export const GPT_SIGNATURE = 'EFI PART';
