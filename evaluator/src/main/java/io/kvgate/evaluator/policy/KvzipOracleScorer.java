package io.kvgate.evaluator.policy;

import io.kvgate.models.KvCache;
import io.kvgate.objectives.KvzipScorer;
import io.kvgate.objectives.KvzipScores;

/**
 * KVzip itself, as an oracle: exact reconstruction scores computed at run time once the context is
 * prefilled (ALGORITHM.md §1), the targets the gates learn. It needs the whole context, so it is asked once
 * when the context is done; tokens appended afterwards have no score and are evicted first once they leave
 * the protected recent window.
 */
public final class KvzipOracleScorer implements Scorer {
    private final KvzipScorer kvzip;

    public KvzipOracleScorer(KvzipScorer kvzip) {
        this.kvzip = kvzip;
    }

    /** "kvzip" for the official raw scores, "kvzip-pooled" for kvgate's successor-pooled variant. */
    @Override
    public String name() {
        return kvzip.successorPooling() ? "kvzip-pooled" : "kvzip";
    }

    @Override
    public ScoreSession start(SequenceInfo sequence) {
        var config = sequence.model().config();
        PositionBook book = PositionBook.forModel(config);
        return new ScoreSession() {
            @Override
            public boolean scoresPartialContext() {
                return false;
            }

            @Override
            public float[][][] scores(KvCache cache, Stage stage) {
                if (stage == Stage.CONTEXT_DONE) {
                    KvzipScores s = kvzip.score(sequence.model(), cache, sequence.contextIds());
                    for (int l : s.scoredLayers())
                        for (int h = 0; h < s.scores()[l].length; h++) {
                            int[] positions = cache.positions(l, h);
                            for (int i = 0; i < positions.length; i++) book.set(l, h, positions[i], s.scores()[l][h][i]);
                        }
                }
                return book.lookup(cache);
            }
        };
    }
}
