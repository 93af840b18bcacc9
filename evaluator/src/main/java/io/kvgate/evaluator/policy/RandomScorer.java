package io.kvgate.evaluator.policy;

/**
 * Uniform random scores, seeded: the same (seed, layer, head, position) always gets the same score, so a
 * run is reproducible and chunked eviction stays consistent from chunk to chunk.
 */
public final class RandomScorer implements Scorer {
    private final long seed;

    public RandomScorer(long seed) {
        this.seed = seed;
    }

    @Override
    public String name() {
        return "random";
    }

    @Override
    public ScoreSession start(SequenceInfo sequence) {
        int[] layers = sequence.model().config().gatedLayers();
        return (cache, stage) -> StreamingScorer.PositionalScores.of(cache, layers, this::score);
    }

    float score(int layer, int head, int position) {
        long z = seed ^ (layer * 0x9E3779B97F4A7C15L) ^ ((long) head << 40) ^ ((long) position * 0xBF58476D1CE4E5B9L);
        // splitmix64 finaliser: well-mixed 64 bits from a structured key.
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z = z ^ (z >>> 31);
        return (z >>> 40) / (float) (1L << 24);
    }
}
