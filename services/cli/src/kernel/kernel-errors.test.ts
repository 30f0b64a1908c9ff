import { create } from '@bufbuild/protobuf';
import { BundleIssueSchema, BundleTestOutcomeSchema } from '@capstan/gen/capstan/policy/v1/policy_admin_pb';
import { Code, ConnectError } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import { connectCodeName, KernelRequestError, KernelUnreachableError, toKernelError } from './kernel-errors.js';

const endpoint = { url: 'http://127.0.0.1:1', source: 'SAFETY_KERNEL_URL' };

describe('toKernelError', () => {
  it('says which URL did not answer, where it came from, and how to start a kernel', () => {
    const refused = new ConnectError('connect ECONNREFUSED 127.0.0.1:1', Code.Unavailable, undefined, undefined, {
      code: 'ECONNREFUSED',
    });
    const error = toKernelError(endpoint, 'list snapshots', refused);
    expect(error).toBeInstanceOf(KernelUnreachableError);
    expect(error.message).toBe(
      'cannot reach the safety kernel at http://127.0.0.1:1 (from SAFETY_KERNEL_URL): connect ECONNREFUSED ' +
        '127.0.0.1:1; start one with `capstan dev` (the whole stack) or `capstan safety-kernel`, or point at a ' +
        'running kernel with --kernel URL or SAFETY_KERNEL_URL',
    );
  });

  it('recognises a server that is not a kernel', () => {
    const error = toKernelError(endpoint, 'explain', new ConnectError('HTTP 404', Code.Unimplemented));
    expect(error).toBeInstanceOf(KernelUnreachableError);
    expect(error.message).toMatch(
      /^the safety kernel at http:\/\/127\.0\.0\.1:1 \(from SAFETY_KERNEL_URL\) is not a Capstan safety kernel \(HTTP 404 for explain\)/,
    );
  });

  it('prints the bundle issues of an INVALID_ARGUMENT once each, under the first line of the message', () => {
    const issues = [
      create(BundleIssueSchema, {
        file: 'p.yaml',
        line: 4,
        column: 5,
        path: 'rules[0].decison',
        message: 'unknown field',
      }),
      create(BundleIssueSchema, { file: 'p.yaml', line: 7, column: 1, path: '', message: 'YAML: bad' }),
    ];
    const invalid = new ConnectError(
      'invalid policy bundle (2 issues):\n  p.yaml:4:5: rules[0].decison: unknown field\n  p.yaml:7:1: YAML: bad',
      Code.InvalidArgument,
      undefined,
      issues.map((value) => ({ desc: BundleIssueSchema, value })),
    );
    const error = toKernelError({ url: 'http://k:1', source: '--kernel' }, 'upload', invalid);
    expect(error).toBeInstanceOf(KernelRequestError);
    expect((error as KernelRequestError).code).toBe('invalid_argument');
    expect(error.message).toBe(
      [
        'upload failed (invalid_argument): invalid policy bundle (2 issues):',
        '  p.yaml:4:5: rules[0].decison: unknown field',
        '  p.yaml:7:1: YAML: bad',
      ].join('\n'),
    );
  });

  it('lists the failed tests of a refused activation', () => {
    const refused = new ConnectError(
      'bundle not activated: 1 of 2 embedded tests failed (require_tests_pass):\nshell: expected deny, got allow by all',
      Code.FailedPrecondition,
      undefined,
      [
        {
          desc: BundleTestOutcomeSchema,
          value: { name: 'shell', passed: false, message: 'expected deny, got allow by all' },
        },
      ],
    );
    expect(toKernelError(endpoint, 'upload', refused).message).toBe(
      [
        'upload failed (failed_precondition): bundle not activated: 1 of 2 embedded tests failed (require_tests_pass):',
        '  FAIL  shell: expected deny, got allow by all',
      ].join('\n'),
    );
  });

  it('passes the kernel message of other errors through with the code', () => {
    const error = toKernelError(
      endpoint,
      'approve apr_1',
      new ConnectError('approval apr_1 is REJECTED, not PENDING', Code.FailedPrecondition),
    );
    expect(error.message).toBe('approve apr_1 failed (failed_precondition): approval apr_1 is REJECTED, not PENDING');
    expect(connectCodeName(Code.DeadlineExceeded)).toBe('deadline_exceeded');
  });
});
