package io.kvgate.cli.config;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code scoring:} how KVzip targets are computed. The wrapping follows the checkpoint (the collector's
 * {@code ScoringSetup}): chat models get the request as a user turn and the repeat as the assistant's answer,
 * rendered with their chat template; the tiny model its trained request; base models the official one.
 *
 * @param request   the repeat request text, or null for the checkpoint's default (a given request is fed as plain
 *                  text after the context, without chat turns)
 * @param chunkSize reconstruction chunk in tokens (paper: 2000)
 */
public record ScoringSpec(String request, int chunkSize) {
    static final List<String> KEYS = List.of("request", "chunk_size");

    static ScoringSpec read(Section s) {
        String request = s.has("request") ? s.string("request", null) : null;
        if (request != null && request.isBlank()) throw s.fail("request", "must not be empty (leave it out for the checkpoint's default)");
        int chunk = s.integer("chunk_size", 2000, Range.atLeast(16));
        return new ScoringSpec(request, chunk);
    }

    Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("request", request);
        m.put("chunk_size", chunkSize);
        return m;
    }
}
