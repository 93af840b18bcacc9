package io.kvgate.evaluator;

import io.kvgate.models.text.TextTokenizer;

/**
 * Text ↔ ids as the evaluator needs them: special tokens written literally in task text are encoded as
 * their ids; decoding drops special tokens (answers are compared as plain text).
 */
public interface TextCodec {
    int[] encode(String text);

    String decode(int[] ids);

    /** The checkpoint's tokenizer (no truncation; specials parsed in, dropped on the way out). */
    static TextCodec of(TextTokenizer tokenizer) {
        return new TextCodec() {
            @Override
            public int[] encode(String text) {
                return tokenizer.encode(text);
            }

            @Override
            public String decode(int[] ids) {
                return tokenizer.decode(ids, true);
            }
        };
    }
}
