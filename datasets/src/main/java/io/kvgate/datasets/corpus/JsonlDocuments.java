package io.kvgate.datasets.corpus;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.kvgate.models.KvgateException;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * JSON Lines, one object per line with the text under a configurable key. A line that is not JSON is
 * skipped and reported (with its line number); an object without the key, or whose value is not a string,
 * is an error — that means the wrong {@code --text-field}, not a stray line.
 */
final class JsonlDocuments {
    private static final ObjectMapper JSON = new ObjectMapper();

    private JsonlDocuments() {}

    static boolean read(Path file, String field, Predicate<RawDocument> sink, Consumer<String> malformed) {
        try (BufferedReader in = Files.newBufferedReader(file)) {
            String line;
            int n = 0;
            while ((line = in.readLine()) != null) {
                n++;
                if (line.isBlank()) continue;
                String where = file + ":" + n;
                JsonNode node;
                try {
                    node = JSON.readTree(line);
                } catch (JsonProcessingException e) {
                    malformed.accept(where + ": malformed JSON (" + e.getOriginalMessage() + ")");
                    continue;
                }
                if (node == null || !node.isObject()) {
                    malformed.accept(where + ": not a JSON object");
                    continue;
                }
                JsonNode text = node.get(field);
                if (text == null)
                    throw new KvgateException(where + ": no field '" + field + "' (fields: " + fieldNames(node) + "); set the text field");
                if (!text.isTextual())
                    throw new KvgateException(where + ": field '" + field + "' is " + text.getNodeType().name().toLowerCase() + ", expected a string");
                if (!sink.test(new RawDocument(where, text.asText()))) return false;
            }
            return true;
        } catch (IOException e) {
            throw new KvgateException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
    }

    private static String fieldNames(JsonNode node) {
        StringBuilder b = new StringBuilder();
        node.fieldNames().forEachRemaining(f -> b.append(b.length() == 0 ? "" : ", ").append(f));
        return b.length() == 0 ? "none" : b.toString();
    }
}
