import { describe, expect, it } from 'vitest';
import { neutralizeFormula } from './audit-csv.js';

describe('CSV formula neutralization', () => {
  it('prefixes cells a spreadsheet would evaluate', () => {
    for (const v of ['=1+1', '+cmd', '-2', '@SUM(A1)', '\tx']) expect(neutralizeFormula(v)).toBe(`'${v}`);
    for (const v of ['agent.deleted', 'a=b', '']) expect(neutralizeFormula(v)).toBe(v);
  });
});
