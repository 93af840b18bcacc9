package io.kvgate.models.text;

import java.util.Arrays;

/**
 * Turns a stream of generated ids into text pieces as they arrive, for printing while generating. A token can end
 * in the middle of a UTF-8 character (byte-level vocabularies) or lose its leading space when decoded alone
 * (SentencePiece), so each piece is the difference between decoding from one token back with and without the
 * new tokens, and nothing is emitted while the text ends in an incomplete character.
 */
public final class IncrementalDecoder {
    private final TextTokenizer tokenizer;
    private final boolean skipSpecial;
    private int[] ids = new int[16];
    private int size;
    private int prefixOffset; // start of the window decoded for context
    private int readOffset;   // ids before this have been emitted

    public IncrementalDecoder(TextTokenizer tokenizer, boolean skipSpecial) {
        this.tokenizer = tokenizer;
        this.skipSpecial = skipSpecial;
    }

    /** Adds one id; returns the newly completed text (possibly empty). */
    public String push(int id) {
        if (size == ids.length) ids = Arrays.copyOf(ids, size * 2);
        ids[size++] = id;
        String before = tokenizer.decode(Arrays.copyOfRange(ids, prefixOffset, readOffset), skipSpecial);
        String now = tokenizer.decode(Arrays.copyOfRange(ids, prefixOffset, size), skipSpecial);
        if (now.length() > before.length() && !now.endsWith("\uFFFD") && now.startsWith(before)) {
            prefixOffset = readOffset;
            readOffset = size;
            return now.substring(before.length());
        }
        return "";
    }

    /** Whatever is still held back (an incomplete character at the very end is emitted as decoded). */
    public String flush() {
        if (readOffset == size) return "";
        String before = tokenizer.decode(Arrays.copyOfRange(ids, prefixOffset, readOffset), skipSpecial);
        String now = tokenizer.decode(Arrays.copyOfRange(ids, prefixOffset, size), skipSpecial);
        prefixOffset = readOffset;
        readOffset = size;
        return now.startsWith(before) ? now.substring(before.length()) : now;
    }
}
