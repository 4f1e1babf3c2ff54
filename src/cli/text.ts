/** Plain-text output helpers shared by the commands' human (non --json) output. */

/** Key/value rows, keys padded to one width. */
export function table(rows: [string, string][], indent = ''): string {
  const width = Math.max(...rows.map(([key]) => key.length));
  return rows.map(([key, value]) => `${indent}${key.padEnd(width)}  ${value}\n`).join('');
}

/** "1.50 GiB (1610612736 bytes)": binary units with the exact count beside them. */
export function sizeText(bytes: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 'bytes';
  for (const next of units) {
    if (value < 1024) break;
    value /= 1024;
    unit = next;
  }
  return unit === 'bytes' ? `${bytes} bytes` : `${value.toFixed(value < 10 ? 2 : 1)} ${unit} (${bytes} bytes)`;
}
