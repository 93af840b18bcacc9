package io.kvgate.cli.config;

import io.kvgate.objectives.RepeatPrompts;
import io.kvgate.trainer.collect.ScoringChunk;
import org.yaml.snakeyaml.nodes.ScalarNode;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code scoring:} how KVzip targets are computed (the collector's {@code ScoringSetup} applies it).
 *
 * @param repeatStyle auto (from the checkpoint: chat template → chat, the tiny model's markers → tiny, else plain),
 *                    chat (request as a user turn, the repeat as the assistant's answer, via the chat template),
 *                    plain (request text right after the context), tiny (the tiny model's trained request and markers)
 * @param request     the repeat request text, or null for the style's default
 * @param chunkSize   reconstruction chunk in tokens of the gates' targets; null = auto, the model's rule
 *                    ({@code RepeatPrompts.defaultChunk}: 128 for the tiny model, the official 2000 otherwise),
 *                    the rule the eval oracle follows too
 */
public record ScoringSpec(String repeatStyle, String request, Integer chunkSize) {
    static final List<String> KEYS = List.of("repeat_style", "request", "chunk_size");
    public static final List<String> STYLES = Arrays.stream(RepeatPrompts.Style.values())
            .map(s -> s.name().toLowerCase(Locale.ROOT)).toList();

    static ScoringSpec read(Section s) {
        String style = s.choice("repeat_style", "auto", STYLES);
        String request = s.has("request") ? s.string("request", null) : null;
        if (request != null && request.isBlank()) throw s.fail("request", "must not be empty (leave it out for the style's default)");
        return new ScoringSpec(style, request, chunk(s));
    }

    /** {@code chunk_size}: auto (the default) → null, or a number of tokens. */
    private static Integer chunk(Section s) {
        ScalarNode n = s.scalar("chunk_size");
        if (n == null) return null;
        try {
            return ScoringChunk.parse(n.getValue());
        } catch (IllegalArgumentException e) {
            throw s.fail("chunk_size", e.getMessage());
        }
    }

    public RepeatPrompts.Style style() {
        return RepeatPrompts.parseStyle(repeatStyle);
    }

    Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("repeat_style", repeatStyle);
        m.put("request", request);
        m.put("chunk_size", chunkSize == null ? ScoringChunk.AUTO : chunkSize);
        return m;
    }
}
