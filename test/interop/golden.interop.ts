import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GOLDEN } from './scenario-titles.js';
import { runProgramLines } from './sdk-programs.js';
import { interopPaths, type SdkLanguage, sdkLanguages } from './toolchains.js';

const { repoRoot } = interopPaths();
const vectorsDir = join(repoRoot, 'test', 'golden', 'vectors');
const vectorNames = readdirSync(vectorsDir)
  .filter((f) => f.endsWith('.bin'))
  .map((f) => f.slice(0, -4))
  .sort();

interface VectorReport {
  vector: string;
  type: string;
  ok: boolean;
  detail?: string;
  types_from?: string;
  canonical_equal?: boolean;
  field_order?: number[];
  signing_payload_equal?: boolean;
  has_auth_token?: boolean;
}

/** A descriptor set of every proto/ file, for runtimes that need types the SDK does not ship. */
function descriptorSet(): string {
  const out = join(mkdtempSync(join(tmpdir(), 'capstan-interop-desc-')), 'capstan.desc');
  const protoRoot = join(repoRoot, 'proto');
  const files = readdirSync(protoRoot, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.proto'))
    .sort();
  execFileSync('protoc', ['-I', protoRoot, '--include_imports', `--descriptor_set_out=${out}`, ...files]);
  return out;
}

function reports(lines: Record<string, unknown>[]): VectorReport[] {
  const list = lines.filter((l) => typeof l['vector'] === 'string') as unknown as VectorReport[];
  expect(list.map((r) => r.vector)).toEqual(vectorNames);
  return list;
}

const languages = sdkLanguages();

function golden(lang: SdkLanguage, check: () => Promise<void>) {
  describe(lang.label, () => {
    it(GOLDEN, async (ctx) => {
      if (lang.unavailable) ctx.skip(lang.unavailable);
      await check();
    });
  });
}

golden(languages.python, async () => {
  const lines = await runProgramLines(languages.python.client([]).command, [
    join(interopPaths().interopDir, 'python', 'golden.py'),
    vectorsDir,
    '--descriptor-set',
    descriptorSet(),
  ]);
  for (const r of reports(lines)) {
    expect(r, `${r.vector}: ${r.detail}`).toMatchObject({ ok: true });
    // cordum.agent.v1 through the SDK's own generated modules; only Capstan's DeadLetter needs protoc's descriptors.
    expect(r.types_from).toBe(r.type.startsWith('cordum.agent.v1.') ? 'cap-sdk-python' : 'protoc descriptor set');
  }
});

golden(languages['go-sdk'], async () => {
  throw new Error('unreachable: the official Go SDK is never available here without its programs');
});

golden(languages.go, async () => {
  const lines = await runProgramLines(languages.go.client([]).command, ['golden', vectorsDir]);
  for (const r of reports(lines)) {
    if (r.type !== 'cordum.agent.v1.BusPacket') {
      expect(r, `${r.vector}: ${r.detail}`).toMatchObject({ ok: true });
      continue;
    }
    // protobuf-go writes oneof fields after the regular ones: BusPacket's payload (10..17) lands after
    // signature (14) and auth_token (18). Everything else is byte for byte: the bytes equal protoc's once the
    // top-level fields are put back in number order. docs/interop.md explains what this means for signatures.
    expect(r.canonical_equal, `${r.vector}: ${r.detail}`).toBe(true);
    const payload = r.field_order!.find((n) => n >= 10 && n <= 17 && n !== 14)!;
    expect(r.field_order).toEqual([1, 2, 3, 4, 14, 18, payload]);
    // So the bytes a signature covers differ from protoc's/Capstan's whenever auth_token is set.
    expect(r.signing_payload_equal).toBe(!r.has_auth_token);
  }
});
