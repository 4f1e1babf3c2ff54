/**
 * What VM Import would make of an import's disks: each is read from the sandbox S3 and run through diskport's
 * own preflight (`check`), as the service validates and converts them. The verdict is either the facts the AMI
 * gets (snapshots, platform, architecture, boot mode) or the first failure with its stage and StatusMessage.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { check, type CheckReport } from '../check.js';
import type { DiskReport } from '../inspect.js';
import { downloadObject } from './fetch.js';
import type { DiskContainerRequest, ImportRequest } from './import-request.js';
import { FAILING_WARNINGS, outcomeOf, type FailureStage } from './outcomes.js';

export interface SnapshotFacts {
  container: DiskContainerRequest;
  /** Upper case, as the service reports it. */
  format: string;
  /** Bytes of the object (or of the disk's entry in an OVA): what the service reports as DiskImageSize. */
  diskImageSize: number;
  virtualSize: number;
}

export interface ImageFacts {
  snapshots: SnapshotFacts[];
  platform: 'Windows' | 'Linux';
  architecture: 'x86_64' | 'i386';
  bootMode: 'legacy-bios' | 'uefi';
}

export interface Failure {
  /** The preflight code (or UNREADABLE, FORMAT_MISMATCH, S3_ACCESS) behind it. */
  code: string;
  stage: FailureStage;
  statusMessage: string;
}

export type Verdict = { facts: ImageFacts; failure?: undefined } | { facts?: undefined; failure: Failure };

export async function judgeImport(request: ImportRequest, s3: S3Client, signal: AbortSignal): Promise<Verdict> {
  const folder = await mkdtemp(join(tmpdir(), 'diskport-sandbox-task-'));
  try {
    const reports: { container: DiskContainerRequest; report: CheckReport; size: number }[] = [];
    for (const [index, container] of request.DiskContainers.entries()) {
      const path = join(folder, `${index}-${basename(container.location.key) || 'disk'}`);
      const download = await downloadObject(s3, container.location, path, signal);
      const format = container.Format ?? 'RAW';
      if (!download.ok) return { failure: failure('S3_ACCESS', { format, reason: download.reason }) };
      const report = await check(path, {
        verify: true, // the service reads every file of an OVA, so a manifest that disagrees fails here
        intent: {
          ...(request.BootMode === undefined ? {} : { bootMode: request.BootMode }),
          ...(request.Platform === undefined ? {} : { platform: request.Platform }),
          ...(request.Architecture === undefined ? {} : { architecture: request.Architecture }),
        },
        role: index === 0 ? 'boot' : 'data',
      });
      const refused = refusalOf(container, report);
      if (refused !== undefined) return { failure: refused };
      reports.push({ container, report, size: download.size });
    }
    return { facts: factsOf(request, reports) };
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

/** The failure this disk's report means, if any: unreadable, another format than requested, a failing finding. */
function refusalOf(container: DiskContainerRequest, report: CheckReport): Failure | undefined {
  const detected = report.inspect?.format.toUpperCase();
  const format = container.Format ?? detected ?? 'RAW';
  if (report.error !== undefined) {
    return failure(outcomeOf(report.error.code) === undefined ? 'UNREADABLE' : report.error.code, { format });
  }
  if (container.Format !== undefined && detected !== undefined && detected !== 'QCOW2' && detected !== container.Format) {
    return failure('FORMAT_MISMATCH', { format });
  }
  const failing = report.findings.find((f) => (f.severity === 'error' || FAILING_WARNINGS.has(f.code)) && outcomeOf(f.code) !== undefined);
  return failing === undefined ? undefined : failure(failing.code, { format });
}

function failure(code: string, context: { format: string; reason?: string }): Failure {
  const outcome = outcomeOf(code)!;
  return { code, stage: outcome.stage, statusMessage: outcome.message(context) };
}

function factsOf(request: ImportRequest, reports: { container: DiskContainerRequest; report: CheckReport; size: number }[]): ImageFacts {
  const snapshots = reports.flatMap(({ container, report, size }) => {
    const inspected = report.inspect!;
    if (inspected.format !== 'ova') return [snapshotOf(container, inspected, size)];
    return inspected.disks.map((disk) => snapshotOf(container, disk, disk.entrySize));
  });
  const guest = reports[0]!.report.guest;
  const architecture = guest?.architecture === 'i386' ? 'i386' : 'x86_64';
  return {
    snapshots,
    platform: request.Platform ?? guest?.platform ?? 'Linux',
    architecture: request.Architecture ?? architecture,
    // A disk that boots both ways: VM Import picks legacy BIOS (its documented default for such disks).
    bootMode: request.BootMode ?? (guest?.bootMode === 'uefi' ? 'uefi' : 'legacy-bios'),
  };
}

function snapshotOf(container: DiskContainerRequest, disk: DiskReport, size: number): SnapshotFacts {
  return { container, format: disk.format.toUpperCase(), diskImageSize: size, virtualSize: disk.virtualSize };
}
