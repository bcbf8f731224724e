import { visible } from './style';

/** A column: its header, and how to show one row (the text may carry colour). */
export interface Column<Row> {
  header: string;
  cell(row: Row): string;
  align?: 'left' | 'right';
}

/**
 * Aligned columns separated by two spaces, a header line first; widths count what shows on
 * screen, so coloured cells line up. The last column is not padded (no trailing blanks).
 */
export function renderTable<Row>(columns: readonly Column<Row>[], rows: readonly Row[]): string {
  const cells = rows.map((row) => columns.map((c) => oneLine(c.cell(row))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => width(r[i]!))));
  const line = (values: readonly string[]) =>
    values
      .map((value, i) => {
        const pad = ' '.repeat(widths[i]! - width(value));
        if (columns[i]!.align === 'right') return pad + value;
        return i === values.length - 1 ? value : value + pad;
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n') + '\n';
}

const width = (text: string): number => [...visible(text)].length;

/** Newlines and tabs inside a cell would break the table. */
const oneLine = (text: string): string => text.replace(/[\r\n\t]+/g, ' ');
