package io.kvgate.evaluator;

/**
 * Text ↔ ids as the evaluator needs them: special tokens written literally in task text are encoded as
 * their ids; decoding drops special tokens (answers are compared as plain text).
 */
public interface TextCodec {
    int[] encode(String text);

    String decode(int[] ids);
}
