package io.kvgate.datasets.corpus;

/**
 * A document cut or concatenated to the configured length, as token ids (before the model's context wrapping).
 *
 * @param index  position in the shaped corpus (the {@code doc} column of feature shards)
 * @param origin where its text came from (first source when concatenated)
 * @param tokens token ids
 */
public record ShapedDocument(int index, String origin, int[] tokens) {
    public int length() {
        return tokens.length;
    }
}
