import { describe, expect, it } from 'vitest';
import { rankAgents } from './agent-discovery.js';
import type { AgentRow } from './agent-schemas.js';

function agent(
  agent_id: string,
  capabilities: string[],
  metadata: Record<string, unknown> = {},
  agent_type = '',
): AgentRow {
  const at = new Date(0);
  return {
    organization_id: 'org',
    agent_id,
    agent_type,
    framework: '',
    capabilities,
    version: '',
    metadata,
    worker_id: agent_id,
    role: 'developer',
    registered_by: '',
    registered_at: at,
    updated_at: at,
  };
}

const agents = [
  agent('writer', ['release_notes', 'drafting'], { description: 'Writes release notes from pull requests' }, 'writer'),
  agent('summarizer', ['summarization'], { description: 'Summarizes long documents' }),
  agent('translator', ['translation'], { languages: ['french', 'german'] }),
  agent('notes-taker', [], { description: 'Takes meeting notes' }),
];

describe('BM25 agent discovery', () => {
  it('ranks capability matches above metadata-only matches and normalizes scores to the best', () => {
    const hits = rankAgents(agents, 'an agent that can write release notes', 10);
    expect(hits[0]?.agent.agent_id).toBe('writer');
    expect(hits[0]?.score).toBe(1);
    expect(hits.map((h) => h.agent.agent_id)).toContain('notes-taker');
    const notes = hits.find((h) => h.agent.agent_id === 'notes-taker');
    expect(notes?.score).toBeLessThan(1);
    expect(notes?.bm25).toBeLessThan(hits[0]?.bm25 ?? 0);
  });

  it('matches prefixes, typos and nested metadata, ignores stop words, and respects the limit', () => {
    expect(rankAgents(agents, 'summar', 1)[0]?.agent.agent_id).toBe('summarizer');
    expect(rankAgents(agents, 'tranlsation', 1)[0]?.agent.agent_id).toBe('translator');
    expect(rankAgents(agents, 'german', 5).map((h) => h.agent.agent_id)).toEqual(['translator']);
    expect(rankAgents(agents, 'the agent that can', 5)).toEqual([]);
    expect(rankAgents(agents, 'notes', 1)).toHaveLength(1);
    expect(rankAgents([], 'anything', 5)).toEqual([]);
  });
});
