package io.kvgate.trainer.collect;

import java.util.function.Function;

/**
 * How a document becomes the model's context: token ids before and after it. For the tiny retrieval model
 * that is {@code <|im_start|>} … {@code <|im_end|>} (TASKS.md); for a base model, nothing.
 */
public record ContextFormat(int[] prefix, int[] suffix) {
    public static final String TEXT_SLOT = "{text}";

    public static ContextFormat none() {
        return new ContextFormat(new int[0], new int[0]);
    }

    /** From a template such as {@code <|im_start|>{text}<|im_end|>}, encoded around the slot. */
    public static ContextFormat fromTemplate(String template, Function<String, int[]> encoder) {
        int at = template.indexOf(TEXT_SLOT);
        if (at < 0) throw new io.kvgate.models.KvgateException("context template '" + template + "' has no " + TEXT_SLOT + " slot");
        String before = template.substring(0, at), after = template.substring(at + TEXT_SLOT.length());
        return new ContextFormat(before.isEmpty() ? new int[0] : encoder.apply(before),
                after.isEmpty() ? new int[0] : encoder.apply(after));
    }

    public int[] wrap(int[] document) {
        int[] out = new int[prefix.length + document.length + suffix.length];
        System.arraycopy(prefix, 0, out, 0, prefix.length);
        System.arraycopy(document, 0, out, prefix.length, document.length);
        System.arraycopy(suffix, 0, out, prefix.length + document.length, suffix.length);
        return out;
    }

    public int overhead() {
        return prefix.length + suffix.length;
    }
}
