package io.kvgate.evaluator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.kvgate.models.KvgateException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * Finished units of an evaluation (one context × policy × ratio), appended as JSON lines as they complete, so
 * an interrupted run resumes where it stopped. A unit's key hashes everything its result depends on (model,
 * settings, policy, ratio, context, queries); a torn last line from an interruption is ignored.
 */
final class EvalJournal {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Path file;
    private final Map<String, List<ItemResult>> done = new HashMap<>();

    private EvalJournal(Path file) {
        this.file = file;
    }

    /** No journal: nothing is resumed or recorded. */
    static EvalJournal none() {
        return new EvalJournal(null);
    }

    static EvalJournal open(Path file) {
        EvalJournal j = new EvalJournal(file);
        if (Files.isRegularFile(file)) {
            try {
                for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                    try {
                        JsonNode n = JSON.readTree(line);
                        List<ItemResult> items = new ArrayList<>();
                        for (JsonNode i : n.get("items")) items.add(JSON.treeToValue(i, ItemResult.class));
                        j.done.put(n.get("key").asText(), items);
                    } catch (IOException | RuntimeException torn) {
                        // an interrupted write: that unit simply runs again
                    }
                }
            } catch (IOException e) {
                throw new KvgateException("cannot read the evaluation journal " + file + ": " + e.getMessage(), e);
            }
        }
        return j;
    }

    static String key(String... parts) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (String p : parts) {
                md.update(p.getBytes(StandardCharsets.UTF_8));
                md.update((byte) 0);
            }
            return HexFormat.of().formatHex(md.digest(), 0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The unit's results if it already finished, else null. */
    List<ItemResult> done(String key) {
        return done.get(key);
    }

    int size() {
        return done.size();
    }

    void record(String key, List<ItemResult> items) {
        done.put(key, items);
        if (file == null) return;
        var node = JSON.createObjectNode();
        node.put("key", key);
        node.set("items", JSON.valueToTree(items));
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            Files.writeString(file, node + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new KvgateException("cannot write the evaluation journal " + file + ": " + e.getMessage(), e);
        }
    }

    /** Removes the journal once the results are written. */
    void delete() {
        if (file == null) return;
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            throw new KvgateException("cannot delete the evaluation journal " + file + ": " + e.getMessage(), e);
        }
    }
}
