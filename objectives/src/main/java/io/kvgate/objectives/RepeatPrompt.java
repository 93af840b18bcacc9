package io.kvgate.objectives;

import java.util.Arrays;
import java.util.function.Function;

import static io.kvgate.models.util.IntArrays.concat;

/**
 * The reconstruction request of KVzip, as token ids, and how it is wrapped for a model.
 *
 * <p>The first chunk's repeat pass is {@code request + target}; later chunks (long contexts) use
 * {@code continuationPrefix + last 8 tokens of the previous chunk + continuationSuffix + target}, where
 * {@code target} is the chunk itself, teacher-forced. For chat models the request is a user turn and the
 * target is the assistant's answer: the prefix/suffix carry the template's turn markers.
 *
 * @param request            ids fed before the first chunk's repeat
 * @param continuationPrefix ids before the "starting with" tokens of a later chunk
 * @param continuationSuffix ids after them (e.g. end of user turn + start of assistant turn)
 * @param wrapperIds         ids that wrap the context but are not repeated (e.g. the tiny model's
 *                           {@code <|im_start|>}/{@code <|im_end|>} around its context)
 */
public record RepeatPrompt(int[] request, int[] continuationPrefix, int[] continuationSuffix, int[] wrapperIds) {
    /** Tokens of the previous chunk quoted in a later chunk's request (official KVzip code: 8). */
    public static final int QUOTED_TOKENS = 8;

    /** The official code's request. */
    public static final String OFFICIAL_REQUEST = "\n\nRepeat the previous context exactly.";
    /** The tiny retrieval model's trained request (../shared/TASKS.md), fed after its {@code <|im_end|>}. */
    public static final String TINY_MODEL_REQUEST = "\nRepeat the previous context:\n";
    public static final String CONTINUATION_REQUEST = "Repeat the part of the previous context exactly, starting with ";

    /**
     * A plain (non-chat) prompt: {@code requestText} before the first chunk; later chunks get
     * "\n\nRepeat the part of the previous context exactly, starting with " + quoted tokens + ":\n".
     */
    public static RepeatPrompt plain(Function<String, int[]> encoder, String requestText, int... wrapperIds) {
        return new RepeatPrompt(encoder.apply(requestText),
                encoder.apply("\n\n" + CONTINUATION_REQUEST),
                encoder.apply(":\n"),
                wrapperIds);
    }

    /**
     * A chat prompt: the request is a user turn, the repeat is the assistant's answer.
     * {@code userTurnStart}/{@code assistantTurnStart} come from the checkpoint's chat template
     * (e.g. Qwen: "<|im_start|>user\n" and "<|im_end|>\n<|im_start|>assistant\n").
     */
    public static RepeatPrompt chat(Function<String, int[]> encoder, String userTurnStart, String requestText,
                                    String assistantTurnStart, int... wrapperIds) {
        return new RepeatPrompt(encoder.apply(userTurnStart + requestText.strip() + assistantTurnStart),
                encoder.apply(userTurnStart + CONTINUATION_REQUEST),
                encoder.apply(assistantTurnStart),
                wrapperIds);
    }

    /** The repeat-pass input for the chunk {@code target}; {@code quoted} is null for the first chunk. */
    int[] passInput(int[] quoted, int[] target) {
        int[] head = quoted == null ? request : concat(continuationPrefix, quoted, continuationSuffix);
        return concat(head, target);
    }

    boolean isWrapper(int id) {
        for (int w : wrapperIds) if (w == id) return true;
        return false;
    }

    @Override
    public String toString() {
        return "RepeatPrompt" + Arrays.toString(request);
    }
}
