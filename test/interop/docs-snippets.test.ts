import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { interopPaths } from './toolchains.js';

// docs/interop.md shows code from the programs the interop suite runs. Each block is preceded by
// `<!-- snippet: <file>#<region> -->`, and the file marks the region with `docs:start <region>` / `docs:end <region>`
// comments. This test (part of `npm test`, so it needs no Go or Python) keeps the two identical.

const { repoRoot } = interopPaths();
const doc = readFileSync(join(repoRoot, 'docs', 'interop.md'), 'utf8');
const SNIPPET = /<!-- snippet: ([^#\s]+)#([\w-]+) -->\n```\w*\n([\s\S]*?)```/g;

/** The lines between the region's markers, with their common indentation removed. */
function region(file: string, name: string): string {
  const lines = readFileSync(join(repoRoot, file), 'utf8').split('\n');
  const start = lines.findIndex((l) => l.includes(`docs:start ${name}`));
  const end = lines.findIndex((l, i) => i > start && l.includes(`docs:end ${name}`));
  if (start < 0 || end < 0) throw new Error(`${file} has no "docs:start ${name}" … "docs:end ${name}" region`);
  const body = lines.slice(start + 1, end);
  const indent = Math.min(...body.filter((l) => l.trim() !== '').map((l) => l.length - l.trimStart().length));
  return `${body.map((l) => l.slice(indent)).join('\n')}\n`;
}

describe('docs/interop.md snippets', () => {
  const snippets = [...doc.matchAll(SNIPPET)].map(([, file, name, body]) => ({
    file: file!,
    name: name!,
    body: body!,
  }));

  it('has a snippet for every language the suite runs', () => {
    expect(snippets.map((s) => s.name)).toEqual(
      expect.arrayContaining(['python-agent', 'python-client', 'go-worker', 'go-client', 'go-signing', 'ts-worker']),
    );
  });

  it.each(snippets.map((s) => [`${s.file}#${s.name}`, s] as const))('%s is the tested code', (_label, s) => {
    expect(s.body).toBe(region(s.file, s.name));
  });
});
