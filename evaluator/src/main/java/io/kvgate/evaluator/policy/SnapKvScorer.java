package io.kvgate.evaluator.policy;

import io.kvgate.models.ForwardObserver;
import io.kvgate.models.KvCache;

/**
 * SnapKV in the query-agnostic setting: the observation window is the last {@code window} tokens of the
 * context (the question is not known at compression time). A key's score is the attention those queries
 * give it, summed over the GQA group's heads and the window's rows, then average-pooled over neighbouring
 * positions (kernel {@code kernel}, zero padding, as SnapKV's avg_pool1d). Keys inside the observation
 * window are always kept. Needs the whole context, so it is asked once, when the context is done; tokens
 * appended afterwards get no score and are evicted first once they leave the protected recent window.
 */
public final class SnapKvScorer implements Scorer {
    public static final int DEFAULT_WINDOW = 8;
    public static final int DEFAULT_KERNEL = 7;

    private final int window;
    private final int kernel;

    public SnapKvScorer(int window, int kernel) {
        if (window < 1) throw new IllegalArgumentException("SnapKV window must be >= 1");
        if (kernel < 1 || kernel % 2 == 0) throw new IllegalArgumentException("SnapKV kernel must be odd and >= 1");
        this.window = window;
        this.kernel = kernel;
    }

    public SnapKvScorer() {
        this(DEFAULT_WINDOW, DEFAULT_KERNEL);
    }

    @Override
    public String name() {
        return "snapkv";
    }

    @Override
    public ScoreSession start(SequenceInfo sequence) {
        var config = sequence.model().config();
        PositionBook raw = PositionBook.forModel(config);
        int end = sequence.contextEnd();
        int first = Math.max(sequence.contextStart(), end - window);
        return new ScoreSession() {
            private boolean contextDone;

            @Override
            public ForwardObserver observer(KvCache cache) {
                if (contextDone) return null;
                return new AttentionSums(cache, raw, pass -> {
                    int a = Math.max(0, first - pass[0]);
                    int b = Math.min(pass.length, end - pass[0]);
                    return a < b ? new int[] {a, b} : null;
                });
            }

            @Override
            public boolean scoresPartialContext() {
                return false;
            }

            @Override
            public float[][][] scores(KvCache cache, Stage stage) {
                float[][][] sums = raw.lookup(cache);
                for (int l = 0; l < sums.length; l++) {
                    if (sums[l] == null) continue;
                    for (int h = 0; h < sums[l].length; h++)
                        sums[l][h] = pooled(sums[l][h], cache.positions(l, h), first, end);
                }
                return sums;
            }

            @Override
            public void contextDone(KvCache cache) {
                contextDone = true;
            }
        };
    }

    /** Average-pools the scores of keys before the observation window; window keys score +∞, later ones NaN. */
    float[] pooled(float[] sums, int[] positions, int windowStart, int contextEnd) {
        float[] out = new float[sums.length];
        int half = kernel / 2;
        for (int i = 0; i < sums.length; i++) {
            int p = positions[i];
            if (p >= contextEnd) out[i] = Float.NaN;
            else if (p >= windowStart) out[i] = Float.POSITIVE_INFINITY;
            else {
                double s = 0;
                for (int j = i - half; j <= i + half; j++)
                    if (j >= 0 && j < sums.length && positions[j] < windowStart && !Float.isNaN(sums[j])) s += sums[j];
                out[i] = (float) (s / kernel);
            }
        }
        return out;
    }
}
