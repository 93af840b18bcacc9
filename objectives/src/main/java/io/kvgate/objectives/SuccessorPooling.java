package io.kvgate.objectives;

/**
 * The last step of the KVzip score in kvgate: each cached entry also takes its successor's score,
 * S′[l,h,i] = max(S[l,h,i], S[l,h,i+1]) when entry i+1 holds position p(i)+1 of the same head.
 *
 * <p>Why (docs/EVALUATION.md, "The KVzip oracle, and why it lost key-value items"): the reconstruction pass is
 * teacher-forced, and a copy head finds the next token by matching the token before it. At a boundary the model
 * cannot resolve (the first digit of a value after ": ", the first letter of a key after a newline) it predicts
 * the wrong token and its attention is diffuse, so that token receives almost no attention from any repeat
 * position (max < 0.05) although the next repeat position, fed the token itself, attends its successor at
 * 0.87–0.93. A query that retrieves the value attends exactly that first token, so the raw score evicts what the
 * answer starts with. Taking the successor's score keeps the span whose continuation the reconstruction reads.
 * The official code and kvpress do not pool; {@link KvzipScorer} can turn this off to reproduce them.
 */
public final class SuccessorPooling {
    private SuccessorPooling() {}

    /**
     * Pools {@code scores} [layer][head][entry] in place; {@code positions} has the same shape (ascending per
     * head). Null layers are skipped.
     */
    public static void apply(float[][][] scores, int[][][] positions) {
        for (int l = 0; l < scores.length; l++) {
            if (scores[l] == null) continue;
            for (int h = 0; h < scores[l].length; h++) {
                float[] s = scores[l][h];
                int[] p = positions[l][h];
                // ascending: s[i + 1] is still the raw score when entry i reads it
                for (int i = 0; i + 1 < s.length; i++)
                    if (p[i + 1] == p[i] + 1 && s[i + 1] > s[i]) s[i] = s[i + 1];
            }
        }
    }
}
