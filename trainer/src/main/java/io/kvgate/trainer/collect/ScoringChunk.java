package io.kvgate.trainer.collect;

import io.kvgate.objectives.RepeatPrompts;

/**
 * The KVzip scoring chunk of the gates' targets as configured: a number of tokens, or {@code auto} (held as null),
 * the model's rule {@link RepeatPrompts#defaultChunk} — the same rule the evaluator's oracle follows, so teacher and
 * oracle score with the same chunk unless one is set explicitly.
 */
public final class ScoringChunk {
    public static final String AUTO = "auto";
    /** Shorter chunks leave the repeat request longer than the text it quotes. */
    public static final int MIN_TOKENS = 16;
    public static final String EXPECTED = "expected 'auto' (" + RepeatPrompts.TINY_MODEL_CHUNK + " for the tiny model, "
            + RepeatPrompts.OFFICIAL_CHUNK + " otherwise) or a number of tokens >= " + MIN_TOKENS;

    private ScoringChunk() {}

    /**
     * {@code auto} → null, else the number of tokens.
     *
     * @throws IllegalArgumentException naming the value and what is expected
     */
    public static Integer parse(String text) {
        String t = text.strip();
        if (t.equals(AUTO)) return null;
        long v;
        try {
            v = Long.parseLong(t.replace("_", ""));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(EXPECTED + ", got '" + t + "'");
        }
        if (v < MIN_TOKENS || v > Integer.MAX_VALUE) throw new IllegalArgumentException(EXPECTED + ", got " + t);
        return (int) v;
    }

    /** The chunk to score with: {@code requested}, or for auto (null) the rule for the resolved style. */
    public static int resolve(Integer requested, RepeatPrompts.Style resolvedStyle) {
        return requested != null ? requested : RepeatPrompts.defaultChunk(resolvedStyle);
    }

    /** As written in configs: {@code auto} or the number. */
    public static String format(Integer chunk) {
        return chunk == null ? AUTO : chunk.toString();
    }
}
