import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { ApprovalSchema, ApprovalState } from '@capstan/gen/capstan/policy/v1/policy_admin_pb';
import { describe, expect, it } from 'vitest';
import { formatApproval, formatApprovalList, parseApprovalState } from './format-approvals.js';

const at = timestampFromDate(new Date('2026-01-02T03:04:05Z'));

describe('approvals output', () => {
  it('parses --state case-insensitively and rejects anything else with the accepted values', () => {
    expect(parseApprovalState(undefined)).toBe(ApprovalState.UNSPECIFIED);
    expect(parseApprovalState('Pending')).toBe(ApprovalState.PENDING);
    expect(parseApprovalState('expired')).toBe(ApprovalState.EXPIRED);
    expect(() => parseApprovalState('done')).toThrow(
      '--state "done" is invalid: expected one of pending, approved, rejected, expired',
    );
  });

  it('lists approvals: pending ones with their expiry, decided ones with who decided', () => {
    const table = formatApprovalList([
      create(ApprovalSchema, {
        approvalId: 'apr_1',
        state: ApprovalState.PENDING,
        tenant: 'acme',
        topic: 'job.deploy.prod',
        jobId: 'j1',
        ruleId: 'deploys',
        createdAt: at,
        expiresAt: at,
      }),
      create(ApprovalSchema, {
        approvalId: 'apr_2',
        state: ApprovalState.REJECTED,
        tenant: 'acme',
        topic: 'job.deploy.x',
        jobId: 'j2',
        ruleId: 'deploys',
        createdAt: at,
        decidedBy: 'bob',
      }),
    ]);
    expect(table.split('\n')).toEqual([
      'APPROVAL  STATE     TENANT  TOPIC            JOB  RULE     CREATED',
      'apr_1     PENDING   acme    job.deploy.prod  j1   deploys  2026-01-02T03:04:05.000Z  expires 2026-01-02T03:04:05.000Z',
      'apr_2     REJECTED  acme    job.deploy.x     j2   deploys  2026-01-02T03:04:05.000Z  by bob',
    ]);
    expect(formatApprovalList([])).toBe('no approvals');
  });

  it('shows every field of one approval, with the decision once decided', () => {
    const text = formatApproval(
      create(ApprovalSchema, {
        approvalId: 'apr_2',
        state: ApprovalState.APPROVED,
        jobId: 'j2',
        decidedBy: 'bob',
        decisionReason: 'ok',
        decidedAt: at,
        createdAt: at,
      }),
    );
    expect(text).toContain('approval:        apr_2');
    expect(text).toContain('state:           APPROVED');
    expect(text).toContain('decided by:      bob');
    expect(text).toContain('decision reason: ok');
    expect(text).toContain('principal:       -');
  });
});
