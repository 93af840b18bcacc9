package io.kvgate.cli.pipeline;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;

/** SHA-256 of a stage's inputs written as canonical JSON (map keys sorted), so equal inputs hash equal. */
final class InputsHash {
    private static final ObjectMapper CANONICAL = new ObjectMapper().enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);

    private InputsHash() {}

    static String of(String stage, Map<String, Object> inputs, Map<String, String> upstreamDigests) {
        Map<String, Object> all = new TreeMap<>();
        all.put("stage", stage);
        all.put("inputs", inputs);
        all.put("upstream", new TreeMap<>(upstreamDigests));
        try {
            return DirectoryDigest.sha256(CANONICAL.writeValueAsString(all).getBytes(StandardCharsets.UTF_8));
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("stage " + stage + " inputs are not JSON-like: " + e.getMessage(), e);
        }
    }
}
