package io.kvgate.trainer.collect;

import io.kvgate.models.KvgateException;
import io.kvgate.models.text.ChatMessage;
import io.kvgate.models.text.ChatTemplate;
import io.kvgate.models.text.TextTokenizer;
import io.kvgate.objectives.RepeatPrompt;

import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;

/**
 * How a checkpoint's contexts are wrapped and which KVzip repeat request it gets (ALGORITHM.md §1):
 * <ul>
 *   <li>the tiny retrieval model (no chat template, {@code <|im_start|>}/{@code <|im_end|>} tokens):
 *       {@code <|im_start|>{text}<|im_end|>} and its trained request {@code \nRepeat the previous context:\n};</li>
 *   <li>chat models: the document is a user turn rendered with the checkpoint's template; the request is a
 *       second user turn and the repeat is the assistant's answer;</li>
 *   <li>base models: the text as is (after BOS if the tokenizer has one) and the official request.</li>
 * </ul>
 * Both parts can be overridden (a template with a {@code {text}} slot; a request text).
 */
public record ScoringSetup(ContextFormat context, RepeatPrompt prompt, Map<String, String> notes) {
    private static final String SLOT = "\u0001kvgate-slot\u0001";

    public static ScoringSetup resolve(TextTokenizer tokenizer, Optional<ChatTemplate> chat, String contextTemplate,
                                       String requestText) {
        OptionalInt imStart = tokenizer.tokenId("<|im_start|>"), imEnd = tokenizer.tokenId("<|im_end|>");
        Map<String, String> notes = new LinkedHashMap<>();
        String style;
        String template;
        String request;
        String userTurn = null, assistantTurn = null;
        if (chat.isEmpty() && imStart.isPresent() && imEnd.isPresent()) {
            style = "tiny";
            template = "<|im_start|>" + ContextFormat.TEXT_SLOT + "<|im_end|>";
            request = RepeatPrompt.TINY_MODEL_REQUEST;
        } else if (chat.isPresent()) {
            style = "chat";
            String one = chat.get().render(List.of(ChatMessage.user(SLOT)), false);
            template = one.replace(SLOT, ContextFormat.TEXT_SLOT);
            String turn = chat.get().render(List.of(ChatMessage.user(SLOT)), true);
            int at = turn.indexOf(SLOT);
            if (at < 0) throw new KvgateException("chat template does not render the user message; pass --context-template and --repeat-request");
            userTurn = turn.substring(0, at);
            assistantTurn = turn.substring(at + SLOT.length());
            // a template that starts every conversation with BOS/system text: the request turn starts at the user marker
            String bos = tokenizer.bosToken().orElse("");
            if (!bos.isEmpty() && userTurn.startsWith(bos)) userTurn = userTurn.substring(bos.length());
            request = RepeatPrompt.OFFICIAL_REQUEST;
        } else {
            style = "plain";
            template = tokenizer.bosToken().map(b -> b + ContextFormat.TEXT_SLOT).orElse(ContextFormat.TEXT_SLOT);
            request = RepeatPrompt.OFFICIAL_REQUEST;
        }
        if (contextTemplate != null) template = contextTemplate;
        if (requestText != null) request = requestText;

        ContextFormat context = ContextFormat.fromTemplate(template, tokenizer::encode);
        // Tokens around the document are kept as keys but not repeated.
        Set<Integer> wrappers = new LinkedHashSet<>();
        for (int id : context.prefix()) wrappers.add(id);
        for (int id : context.suffix()) wrappers.add(id);
        int[] wrapperIds = wrappers.stream().mapToInt(Integer::intValue).toArray();
        RepeatPrompt prompt = userTurn != null && requestText == null
                ? RepeatPrompt.chat(tokenizer::encode, userTurn, request, assistantTurn, wrapperIds)
                : RepeatPrompt.plain(tokenizer::encode, request, wrapperIds);
        notes.put("context_style", style);
        notes.put("context_template", template);
        notes.put("repeat_request", request);
        return new ScoringSetup(context, prompt, notes);
    }
}
