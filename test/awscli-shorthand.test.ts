/** The shorthand parser against the AWS CLI's documented grammar (the recorder tests compare it with the real CLI). */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { typeShorthand } from '../src/awscli/shape.js';
import { parseShorthand } from '../src/awscli/shorthand.js';
import { IMPORT_IMAGE_INPUT } from '../src/awscli/import-image.js';
import { expectDiskError } from './helpers.js';

const parse = (text: string) => parseShorthand(text, '--x');

describe('shorthand syntax', () => {
  it.each([
    ['a=b', { a: 'b' }],
    ['a=b,c=d', { a: 'b', c: 'd' }],
    ['a=b,c', { a: ['b', 'c'] }],
    ['a=b,c,d=e', { a: ['b', 'c'], d: 'e' }],
    ['a=x,y,z', { a: ['x', 'y', 'z'] }],
    ['a=[b,c],d=[]', { a: ['b', 'c'], d: [] }],
    ['a={b=1,c=2}', { a: { b: '1', c: '2' } }],
    ['a={b=[1,2],c={d=e}}', { a: { b: ['1', '2'], c: { d: 'e' } } }],
    ['Tags=[{Key=a,Value=b},{Key=c,Value=d}]', { Tags: [{ Key: 'a', Value: 'b' }, { Key: 'c', Value: 'd' }] }],
    ['a=hello world ,b=c', { a: 'hello world', b: 'c' }],
    ["a='b,c=d',e=\"f\\\"g\"", { a: 'b,c=d', e: 'f"g' }],
    ["a='it\\'s'", { a: "it's" }],
    ['a=b\\,c,d=e', { a: 'b,c', d: 'e' }],
    ['a=', { a: '' }],
    ['a = b , c = d', { a: 'b', c: 'd' }],
    ['Url=https://h/p?x=1', { Url: 'https://h/p?x=1' }],
    ['k:x/y.z#1=v', { 'k:x/y.z#1': 'v' }],
  ])('%s', async (text, expected) => {
    expect(await parse(text)).toEqual(expected);
  });

  it.each([['a=b,a=c'], ['a={b=1'], ['a=[b'], ["a='b"], ['a'], ['a=b c=d,e=f,e=g']])('refuses %s naming the option', async (text) => {
    const error = await expectDiskError(parse(text), 'USAGE');
    expect(error.field).toBe('--x');
  });

  it('reads Key@=file://… values from the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'diskport-shorthand-'));
    writeFileSync(join(dir, 'comment.txt'), 'from, a file');
    expect(await parse(`Comment@=file://${join(dir, 'comment.txt')},UploadSize=1`)).toEqual({ Comment: 'from, a file', UploadSize: '1' });
    await expectDiskError(parse(`Comment@=file://${join(dir, 'missing.txt')}`), 'FILE_NOT_FOUND');
  });

  it('is typed by the shape: one value where a list goes, numbers, booleans, unknown keys refused', async () => {
    const containers = IMPORT_IMAGE_INPUT.members.DiskContainers!;
    expect(typeShorthand([await parse('Format=vmdk,UserBucket={S3Bucket=b,S3Key=k}')], containers, 'DiskContainers')).toEqual([
      { Format: 'vmdk', UserBucket: { S3Bucket: 'b', S3Key: 'k' } },
    ]);
    const tags = IMPORT_IMAGE_INPUT.members.TagSpecifications!;
    expect(typeShorthand([await parse('ResourceType=import-image-task,Tags={Key=a,Value=b}')], tags, 'TagSpecifications')).toEqual([
      { ResourceType: 'import-image-task', Tags: [{ Key: 'a', Value: 'b' }] },
    ]);
    const clientData = IMPORT_IMAGE_INPUT.members.ClientData!;
    expect(typeShorthand(await parse('UploadSize=2.5,Comment=x'), clientData, 'ClientData')).toEqual({ UploadSize: 2.5, Comment: 'x' });
    expect(() => typeShorthand({ Sizes: '1' }, clientData, 'ClientData')).toThrow(/unknown parameter "Sizes"/);
    expect(() => typeShorthand({ UploadSize: 'big' }, clientData, 'ClientData')).toThrow(/ClientData.UploadSize: expected a number/);
  });
});
