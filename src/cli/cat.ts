import { writeGuestFile, writeGuestStream } from '../cat.js';
import { openImage } from '../open.js';
import type { CommandOptions } from './main.js';

export async function runCat(file: string, options: CommandOptions): Promise<void> {
  const image = await openImage(file, { format: options.format, allowOutsideFolder: options.allowOutsideFolder });
  try {
    if (options.output === undefined || options.output === '-') {
      await writeGuestStream(image, process.stdout);
      return;
    }
    const dataBytes = await writeGuestFile(image, options.output);
    if (options.json) {
      const summary = { file: image.source.name, output: options.output, virtualSize: image.virtualSize, dataBytes };
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    }
  } finally {
    await image.close();
  }
}
