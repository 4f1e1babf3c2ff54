/** The pure parts of the import: merging the request, the ClientToken, the validation rules' fields. */
import { describe, expect, it } from 'vitest';
import { mergeRequest, type DerivedRequest } from '../src/import/request.js';
import { deriveClientToken } from '../src/import/token.js';
import { problemsOf } from '../src/import/validate.js';

const derived: DerivedRequest = {
  checked: {
    DiskContainers: [{ Description: 'disk.vmdk', Format: 'VMDK' }],
    BootMode: 'uefi',
    Platform: 'Linux',
    ClientData: { UploadSize: 1 },
  },
  disks: [{ bucket: 'imports', key: 'vm/disk.vmdk' }],
  clientData: { UploadSize: 0.5, UploadStart: new Date('2026-01-01T00:00:00Z'), UploadEnd: new Date('2026-01-01T00:01:00Z'), Comment: 'diskport import' },
};

describe('mergeRequest', () => {
  it('starts from the check and the real disk location, and lets every field be overridden', () => {
    expect(mergeRequest(derived)).toEqual({
      BootMode: 'uefi',
      Platform: 'Linux',
      DiskContainers: [{ Description: 'disk.vmdk', Format: 'VMDK', UserBucket: { S3Bucket: 'imports', S3Key: 'vm/disk.vmdk' } }],
      ClientData: derived.clientData,
    });
    const merged = mergeRequest(derived, {
      BootMode: 'legacy-bios',
      LicenseType: 'AWS',
      DiskContainers: [{ DeviceName: '/dev/sda1' }],
      ClientData: { Comment: 'mine' },
    });
    expect(merged).toMatchObject({ BootMode: 'legacy-bios', LicenseType: 'AWS', Platform: 'Linux', ClientData: { UploadSize: 0.5, Comment: 'mine' } });
    expect(merged.DiskContainers).toEqual([{ Description: 'disk.vmdk', Format: 'VMDK', DeviceName: '/dev/sda1', UserBucket: { S3Bucket: 'imports', S3Key: 'vm/disk.vmdk' } }]);
  });

  it('a disk pointed at a Url or a snapshot loses the derived UserBucket', () => {
    expect(mergeRequest(derived, { DiskContainers: [{ Url: 's3://other/disk.vmdk' }] }).DiskContainers).toEqual([{ Description: 'disk.vmdk', Format: 'VMDK', Url: 's3://other/disk.vmdk' }]);
    expect(mergeRequest(derived, { DiskContainers: [{ SnapshotId: 'snap-1' }] }).DiskContainers![0]).not.toHaveProperty('UserBucket');
  });
});

describe('deriveClientToken', () => {
  const request = mergeRequest(derived);
  const token = deriveClientToken({ contents: ['0123456789abcdef'], request });

  it('is at most 64 printable ASCII characters, and the same for the same import', () => {
    expect(token).toMatch(/^[\x21-\x7e]{1,64}$/);
    const reordered = Object.fromEntries(Object.entries(request).reverse());
    expect(deriveClientToken({ contents: ['0123456789abcdef'], request: reordered })).toBe(token);
  });

  it('ignores the upload times and DryRun, and changes with the content, the target or any parameter', () => {
    const later = { ...request, ClientData: { ...request.ClientData, UploadStart: new Date(), UploadEnd: new Date() }, DryRun: false };
    expect(deriveClientToken({ contents: ['0123456789abcdef'], request: later })).toBe(token);
    expect(deriveClientToken({ contents: ['fedcba9876543210'], request })).not.toBe(token);
    expect(deriveClientToken({ contents: ['0123456789abcdef'], request: mergeRequest({ ...derived, disks: [{ bucket: 'imports', key: 'other.vmdk' }] }) })).not.toBe(token);
    expect(deriveClientToken({ contents: ['0123456789abcdef'], request: { ...request, Description: 'x' } })).not.toBe(token);
    expect(deriveClientToken({ contents: ['0123456789abcdef'], request: { ...request, ClientData: { ...request.ClientData, Comment: 'x' } } })).not.toBe(token);
  });
});

describe('validation rules', () => {
  it('name the field at fault and echo the value', () => {
    const problems = problemsOf({
      Architecture: 'arm64',
      DiskContainers: [{ Format: 'vmdk', UserBucket: { S3Bucket: 'b', S3Key: 'k' } }, {}],
      TagSpecifications: [{ ResourceType: 'import-image-task', Tags: [{ Key: 'ok', Value: 'v' }, { Key: 'x'.repeat(128), Value: '' }] }],
    } as never);
    expect(problems.map((p) => [p.code, p.field])).toEqual([
      ['IMPORT_VALUE_INVALID', 'Architecture'],
      ['IMPORT_TAG_KEY_TOO_LONG', 'TagSpecifications[0].Tags[1].Key'],
      ['IMPORT_DISK_SOURCE_MISSING', 'DiskContainers[1]'],
    ]);
    expect(problems[0]!.message).toContain('"arm64"');
  });

  it('take a lower-case Format (AWS examples write it so) and an empty request names no disk', () => {
    expect(problemsOf({ DiskContainers: [{ Format: 'ova', Url: 's3://b/k.ova' }] })).toEqual([]);
    expect(problemsOf({}).map((p) => p.code)).toEqual(['IMPORT_DISK_SOURCE_MISSING']);
  });
});
