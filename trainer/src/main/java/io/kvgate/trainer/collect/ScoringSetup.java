package io.kvgate.trainer.collect;

import io.kvgate.models.text.ChatMessage;
import io.kvgate.models.text.ChatTemplate;
import io.kvgate.models.text.TextTokenizer;
import io.kvgate.objectives.RepeatPrompt;
import io.kvgate.objectives.RepeatPrompts;

import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * How a checkpoint's documents become contexts, paired with the repeat request {@link RepeatPrompts} picks
 * for it (same style):
 * <ul>
 *   <li>tiny (no chat template, {@code <|im_start|>}/{@code <|im_end|>} tokens): {@code <|im_start|>{text}<|im_end|>};</li>
 *   <li>chat: the document is a user turn rendered with the checkpoint's template (the request then comes as the
 *       next user turn and the repeat as the assistant's answer);</li>
 *   <li>plain (base models): the text after BOS, if the tokenizer has one.</li>
 * </ul>
 * A template with a {@code {text}} slot overrides the context. Every token of the context's prefix and suffix
 * is a wrapper: kept as a key, never part of the repeated text.
 *
 * @param style the resolved style (never AUTO)
 */
public record ScoringSetup(RepeatPrompts.Style style, ContextFormat context, RepeatPrompt prompt, Map<String, String> notes) {
    /** Plain letters: templates may trim or escape anything else. */
    private static final String SLOT = "KVGATESLOTq7z";

    /** The checkpoint's own style ({@link RepeatPrompts.Style#AUTO}). */
    public static ScoringSetup resolve(TextTokenizer tokenizer, Optional<ChatTemplate> chat, String contextTemplate, String requestText) {
        return resolve(tokenizer, chat, RepeatPrompts.Style.AUTO, contextTemplate, requestText);
    }

    public static ScoringSetup resolve(TextTokenizer tokenizer, Optional<ChatTemplate> chat, RepeatPrompts.Style style,
                                       String contextTemplate, String requestText) {
        RepeatPrompts.Style resolved = RepeatPrompts.resolveStyle(tokenizer, chat, style);
        String template = contextTemplate != null ? contextTemplate : switch (resolved) {
            case TINY -> "<|im_start|>" + ContextFormat.TEXT_SLOT + "<|im_end|>";
            case CHAT -> chat.map(t -> t.render(List.of(ChatMessage.user(SLOT)), false).replace(SLOT, ContextFormat.TEXT_SLOT))
                    .orElse(ContextFormat.TEXT_SLOT); // RepeatPrompts reports the missing template
            default -> tokenizer.bosToken().map(b -> b + ContextFormat.TEXT_SLOT).orElse(ContextFormat.TEXT_SLOT);
        };
        RepeatPrompt base = RepeatPrompts.forModel(tokenizer, chat, resolved, requestText);
        ContextFormat context = ContextFormat.fromTemplate(template, tokenizer::encode);
        Set<Integer> wrappers = new LinkedHashSet<>();
        for (int id : base.wrapperIds()) wrappers.add(id);
        for (int id : context.prefix()) wrappers.add(id);
        for (int id : context.suffix()) wrappers.add(id);
        RepeatPrompt prompt = new RepeatPrompt(base.request(), base.continuationPrefix(), base.continuationSuffix(),
                wrappers.stream().mapToInt(Integer::intValue).toArray());
        Map<String, String> notes = new LinkedHashMap<>();
        notes.put("context_style", resolved.name().toLowerCase());
        notes.put("context_template", template);
        notes.put("repeat_request", tokenizer.decode(prompt.request(), false));
        return new ScoringSetup(resolved, context, prompt, notes);
    }

    /** The scoring chunk: {@code requested}, or for auto (null) the rule for this setup's resolved style. */
    public int chunk(Integer requested) {
        return ScoringChunk.resolve(requested, style);
    }
}
