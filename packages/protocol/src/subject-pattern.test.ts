import { describe, expect, it } from 'vitest';
import { compileSubjectPattern, subjectPatternProblem } from './subject-pattern.js';

describe('topic globs', () => {
  it('matches literal topics exactly', () => {
    const g = compileSubjectPattern('job.echo');
    expect(g.test('job.echo')).toBe(true);
    expect(g.test('job.echo.x')).toBe(false);
    expect(g.test('job.ech')).toBe(false);
  });

  it('* matches exactly one token', () => {
    const g = compileSubjectPattern('job.*.run');
    expect(g.test('job.db.run')).toBe(true);
    expect(g.test('job.run')).toBe(false);
    expect(g.test('job.a.b.run')).toBe(false);
    expect(g.test('job..run')).toBe(false);
  });

  it('> matches one or more trailing tokens', () => {
    const g = compileSubjectPattern('job.llm.>');
    expect(g.test('job.llm.chat')).toBe(true);
    expect(g.test('job.llm.chat.big')).toBe(true);
    expect(g.test('job.llm')).toBe(false);
    expect(g.test('job.other.chat')).toBe(false);
  });

  it('explains malformed globs', () => {
    expect(subjectPatternProblem('job.echo')).toBeUndefined();
    expect(subjectPatternProblem('')).toMatch(/empty topic glob/);
    expect(subjectPatternProblem('job..x')).toMatch(/empty token/);
    expect(subjectPatternProblem('job.>.x')).toMatch(/must be the last token/);
    expect(subjectPatternProblem('job.ab*')).toMatch(/must be whole tokens/);
  });
});
