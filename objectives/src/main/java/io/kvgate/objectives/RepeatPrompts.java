package io.kvgate.objectives;

import io.kvgate.models.KvgateException;
import io.kvgate.models.text.ChatMessage;
import io.kvgate.models.text.ChatTemplate;
import io.kvgate.models.text.TextTokenizer;

import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * Picks the reconstruction prompt a checkpoint should get (ALGORITHM.md §1): chat models get the request as a
 * user turn and repeat as the assistant (rendered with their own template); the tiny retrieval model gets
 * the request it was trained on, after its {@code <|im_end|>}; other base models get the official request.
 */
public final class RepeatPrompts {
    /** How to word and wrap the request. */
    public enum Style { AUTO, CHAT, PLAIN, TINY }

    private static final String MARK = "KVGATE_REPEAT_MARK";

    /** The official code's reconstruction chunk (tokens), for models that repeat thousands of tokens. */
    public static final int OFFICIAL_CHUNK = 2000;
    /**
     * The tiny retrieval model's reconstruction chunk (tokens). A chunk is a length the model must repeat in one go,
     * at the positions after the context: this model learned repeats of 50–340 tokens in 769-token sequences
     * (docs/TASKS.md), and its repeat of a whole 500–700-token context degrades in the second half. 128 sits
     * inside what it learned (docs/EVALUATION.md: 64–256 all beat 2000 on key-value; 128 best over seeds 1–3).
     */
    public static final int TINY_MODEL_CHUNK = 128;

    private RepeatPrompts() {}

    public static Style parseStyle(String s) {
        try {
            return Style.valueOf(s.trim().toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new KvgateException("repeat prompt style '" + s + "': expected auto, chat, plain or tiny");
        }
    }

    /**
     * The prompt for a model. {@code requestText} null means the default for the style
     * (tiny: "\nRepeat the previous context:\n", otherwise the official "\n\nRepeat the previous context exactly.").
     */
    public static RepeatPrompt forModel(TextTokenizer tokenizer, Optional<ChatTemplate> template, Style style, String requestText) {
        Style resolved = resolveStyle(tokenizer, template, style);
        switch (resolved) {
            case TINY: {
                int[] wrappers = wrapperIds(tokenizer, "<|im_start|>", "<|im_end|>");
                return RepeatPrompt.plain(tokenizer::encode, requestText != null ? requestText : RepeatPrompt.TINY_MODEL_REQUEST, wrappers);
            }
            case PLAIN:
                return RepeatPrompt.plain(tokenizer::encode, requestText != null ? requestText : RepeatPrompt.OFFICIAL_REQUEST);
            case CHAT: {
                ChatTemplate t = template.orElseThrow(() -> new KvgateException(
                        "repeat prompt style 'chat' needs a chat template (tokenizer_config.json chat_template), none found"));
                // Render a user turn around a marker to learn the template's turn prefix and the assistant start.
                String rendered = t.render(List.of(ChatMessage.user(MARK)), true, java.util.Map.of("enable_thinking", false));
                int at = rendered.indexOf(MARK);
                if (at < 0) throw new KvgateException("chat template did not render the user message; use scoring.repeat_style: plain");
                String userStart = stripBos(rendered.substring(0, at), tokenizer);
                String assistantStart = rendered.substring(at + MARK.length());
                String request = requestText != null ? requestText : RepeatPrompt.OFFICIAL_REQUEST;
                return RepeatPrompt.chat(tokenizer::encode, userStart, request, assistantStart);
            }
            default:
                throw new IllegalStateException(resolved.toString());
        }
    }

    /**
     * The reconstruction chunk for a resolved style: chunks no longer than the repeats the model can do. The tiny
     * model's style gets {@link #TINY_MODEL_CHUNK}, every other (real LLMs) the official {@link #OFFICIAL_CHUNK}.
     */
    public static int defaultChunk(Style resolved) {
        if (resolved == Style.AUTO) throw new IllegalArgumentException("resolve the style first");
        return resolved == Style.TINY ? TINY_MODEL_CHUNK : OFFICIAL_CHUNK;
    }

    /**
     * AUTO follows the checkpoint: a chat template → CHAT; the tiny model's {@code <|im_start|>}/{@code <|im_end|>}
     * tokens without a template → TINY; otherwise PLAIN. Other styles are returned as given.
     */
    public static Style resolveStyle(TextTokenizer tokenizer, Optional<ChatTemplate> template, Style style) {
        if (style != Style.AUTO) return style;
        if (template.isPresent()) return Style.CHAT;
        if (tokenizer.tokenId("<|im_end|>").isPresent() && tokenizer.tokenId("<|im_start|>").isPresent()) return Style.TINY;
        return Style.PLAIN;
    }

    /** The context already began with BOS; a template's BOS must not be repeated mid-sequence. */
    private static String stripBos(String s, TextTokenizer tokenizer) {
        Optional<String> bos = tokenizer.bosToken();
        return bos.isPresent() && s.startsWith(bos.get()) ? s.substring(bos.get().length()) : s;
    }

    private static int[] wrapperIds(TextTokenizer tokenizer, String... tokens) {
        return java.util.Arrays.stream(tokens).map(tokenizer::tokenId).filter(OptionalInt::isPresent)
                .mapToInt(OptionalInt::getAsInt).toArray();
    }
}
