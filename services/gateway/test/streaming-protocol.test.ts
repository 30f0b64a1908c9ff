import { describe, expect, it } from 'vitest';
import { encodeRaw, encodeReply, parseFrame } from '../src/streaming/phoenix-protocol.js';
import { parseResumeCursor, ResumeCursorError } from '../src/streaming/stored-job-events.js';

describe('Phoenix v2 frames', () => {
  it('parses [join_ref, ref, topic, event, payload] and defaults a null payload to {}', () => {
    expect(parseFrame('["1","1","jobs:*","phx_join",{"cursor":3}]')).toEqual({
      ok: true,
      frame: { joinRef: '1', ref: '1', topic: 'jobs:*', event: 'phx_join', payload: { cursor: 3 } },
    });
    expect(parseFrame('[null,"7","phoenix","heartbeat",null]')).toMatchObject({ ok: true, frame: { payload: {} } });
  });

  it('says what is wrong with a bad frame and keeps the ref when it can', () => {
    expect(parseFrame('{')).toMatchObject({ ok: false, ref: null, reason: expect.stringContaining('not JSON') });
    expect(parseFrame('{"topic":"x"}')).toMatchObject({ ok: false, reason: expect.stringContaining('JSON array') });
    expect(parseFrame('[null,"3","",  "phx_join",{}]')).toMatchObject({
      ok: false,
      ref: '3',
      reason: expect.stringContaining('topic'),
    });
    expect(parseFrame('[null,"3","t","e",[1]]')).toMatchObject({
      ok: false,
      ref: '3',
      reason: expect.stringContaining('payload'),
    });
    expect(parseFrame('[{},"3","t","e",{}]')).toMatchObject({ ok: false, reason: expect.stringContaining('join_ref') });
    expect(parseFrame(`[null,"3","${'t'.repeat(300)}","e",{}]`)).toMatchObject({ ok: false });
  });

  it('encodes replies and pushes with a pre-serialized payload', () => {
    expect(JSON.parse(encodeReply('1', '2', 'jobs:*', 'ok', { replayed: 0 }))).toEqual([
      '1',
      '2',
      'jobs:*',
      'phx_reply',
      { status: 'ok', response: { replayed: 0 } },
    ]);
    expect(JSON.parse(encodeRaw('1', null, 'jobs:"x"', 'job_event', '{"seq":1}'))).toEqual([
      '1',
      null,
      'jobs:"x"',
      'job_event',
      { seq: 1 },
    ]);
  });
});

describe('resume cursors', () => {
  it('reads a seq for one job and an event id or <job_id>:<seq> tenant-wide', () => {
    expect(parseResumeCursor(4, { jobId: 'j' })).toEqual({ kind: 'seq', seq: 4 });
    expect(parseResumeCursor('4', { jobId: 'j' })).toEqual({ kind: 'seq', seq: 4 });
    expect(parseResumeCursor('a:b:7', { jobId: 'a:b' })).toEqual({ kind: 'seq', seq: 7 });
    expect(parseResumeCursor(120, {})).toEqual({ kind: 'event_id', id: '120' });
    expect(parseResumeCursor('job-1:3', {})).toEqual({ kind: 'job_seq', jobId: 'job-1', seq: 3 });
  });

  it('refuses anything else, naming the accepted forms', () => {
    for (const bad of [-1, 1.5, 'x', ':3', 'a b:3', 'j:', {}, [], true, 'x'.repeat(300)]) {
      expect(() => parseResumeCursor(bad, {})).toThrow(ResumeCursorError);
    }
    expect(() => parseResumeCursor('other:3', { jobId: 'mine' })).toThrow('belongs to job other');
  });
});
