package io.kvgate.cli.config;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code scoring:} how KVzip targets are computed: the repeat request, its wrapping, and the chunk size.
 *
 * @param wrapping  plain (request text right after the context) or chat (request as a user turn, the repeat
 *                  as the assistant's answer, via the checkpoint's chat template)
 * @param request   the repeat request text
 * @param chunkSize reconstruction chunk in tokens (paper: 2000)
 */
public record ScoringSpec(String wrapping, String request, int chunkSize) {
    static final List<String> KEYS = List.of("wrapping", "request", "chunk_size");
    public static final List<String> WRAPPINGS = List.of("plain", "chat");
    /** The official KVzip code's request; the chat wrapping strips the leading newlines. */
    public static final String DEFAULT_REQUEST = "\n\nRepeat the previous context exactly.";

    static ScoringSpec read(Section s) {
        String wrapping = s.choice("wrapping", "plain", WRAPPINGS);
        String request = s.string("request", DEFAULT_REQUEST);
        if (request.isBlank()) throw s.fail("request", "must not be empty");
        int chunk = s.integer("chunk_size", 2000, Range.atLeast(16));
        return new ScoringSpec(wrapping, request, chunk);
    }

    Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("wrapping", wrapping);
        m.put("request", request);
        m.put("chunk_size", chunkSize);
        return m;
    }
}
