import MiniSearch from 'minisearch';
import type { AgentRow } from './agent-schemas.js';

/** Field boosts: a capability match counts most, then the agent's type, then the rest. */
export const DISCOVERY_BOOSTS = Object.freeze({
  capabilities: 3,
  agent_type: 1.5,
  description: 1.2,
  metadata: 1,
  framework: 1,
  agent_id: 1,
});

/**
 * Words that carry no intent in requests like "an agent that can write release notes". They are dropped from
 * both the index and the query, so they neither match nor dilute scores.
 */
const STOP_WORDS = new Set([
  'a',
  'an',
  'and',
  'the',
  'that',
  'which',
  'who',
  'can',
  'could',
  'to',
  'for',
  'of',
  'in',
  'on',
  'with',
  'is',
  'are',
  'be',
  'me',
  'my',
  'i',
  'we',
  'our',
  'some',
  'any',
  'please',
  'need',
  'want',
  'find',
  'agent',
  'agents',
  'something',
  'someone',
  'able',
  'do',
  'does',
  'it',
  'or',
  'by',
  'from',
  'at',
  'as',
  'will',
  'should',
]);

/** One ranked candidate. */
export interface DiscoveryHit {
  agent: AgentRow;
  /** BM25+ score divided by the best score of this query: 1 for the best match, (0, 1] for the rest. */
  score: number;
  /** The raw BM25+ score (boosted, summed over query terms), comparable only within one query. */
  bm25: number;
  /** Indexed terms that matched (after prefix/fuzzy expansion). */
  matchedTerms: string[];
}

/** Collects the string leaves of `metadata` (depth ≤ 4), so descriptions, tags and skills become searchable. */
function metadataText(value: unknown, depth = 0): string[] {
  if (depth > 4 || value === null || value === undefined) return [];
  if (typeof value === 'string') return [value];
  if (typeof value === 'number' || typeof value === 'boolean') return [];
  if (Array.isArray(value)) return value.flatMap((item) => metadataText(item, depth + 1));
  if (typeof value === 'object') return Object.values(value).flatMap((item) => metadataText(item, depth + 1));
  return [];
}

function processTerm(term: string): string | null {
  const lower = term.toLowerCase();
  return lower.length < 2 || STOP_WORDS.has(lower) ? null : lower;
}

/**
 * Ranks `agents` against a natural-language `query` with BM25+ (MiniSearch): every agent becomes a document
 * with fields `capabilities` (tags split on `_ - . :`, so `release_notes` matches "release notes"), `agent_type`,
 * `description` (metadata.description), `metadata` (every other string in metadata), `framework`, `agent_id`.
 * Query terms match whole terms, prefixes (terms of 4+ characters: "summar" → "summarization") and near misses
 * (edit distance ≤ 20 % of the term for terms of 5+ characters); MiniSearch weighs prefix and fuzzy matches
 * below exact ones. Terms combine with OR, so more matching terms rank higher.
 */
export function rankAgents(agents: readonly AgentRow[], query: string, limit: number): DiscoveryHit[] {
  const index = new MiniSearch<{ id: number } & Record<keyof typeof DISCOVERY_BOOSTS, string>>({
    fields: Object.keys(DISCOVERY_BOOSTS),
    processTerm,
    searchOptions: {
      boost: { ...DISCOVERY_BOOSTS },
      combineWith: 'OR',
      prefix: (term) => term.length >= 4,
      fuzzy: (term) => (term.length >= 5 ? 0.2 : false),
    },
  });
  index.addAll(
    agents.map((agent, id) => {
      const metadata = (agent.metadata ?? {}) as Record<string, unknown>;
      const { description, ...rest } = metadata;
      return {
        id,
        capabilities: agent.capabilities.join(' '),
        agent_type: agent.agent_type,
        description: metadataText(description).join(' '),
        metadata: metadataText(rest).join(' '),
        framework: agent.framework,
        agent_id: agent.agent_id,
      };
    }),
  );
  const results = index.search(query).slice(0, limit);
  const best = results[0]?.score ?? 1;
  return results.map((result) => ({
    agent: agents[result.id as number] as AgentRow,
    score: Math.round((result.score / best) * 10_000) / 10_000,
    bm25: Math.round(result.score * 10_000) / 10_000,
    matchedTerms: result.terms,
  }));
}
