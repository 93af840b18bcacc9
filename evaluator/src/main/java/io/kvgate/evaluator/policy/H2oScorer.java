package io.kvgate.evaluator.policy;

import io.kvgate.models.ForwardObserver;
import io.kvgate.models.KvCache;

/**
 * H2O (heavy hitters): a key's score is the attention it has accumulated from every query so far, summed over
 * the GQA group — over the prefill, then over the query and decoded tokens. Scores are partial sums, so
 * eviction may run after every chunk, as in H2O itself.
 */
public final class H2oScorer implements Scorer {
    @Override
    public String name() {
        return "h2o";
    }

    @Override
    public ScoreSession start(SequenceInfo sequence) {
        var config = sequence.model().config();
        PositionBook book = PositionBook.forModel(config);
        return new ScoreSession() {
            @Override
            public ForwardObserver observer(KvCache cache) {
                return new AttentionSums(cache, book, pass -> new int[] {0, pass.length});
            }

            @Override
            public float[][][] scores(KvCache cache, Stage stage) {
                return book.lookup(cache);
            }

            @Override
            public void contextDone(KvCache cache) {
                book.snapshot();
            }

            @Override
            public void rewindToContext() {
                book.restore();
            }
        };
    }
}
