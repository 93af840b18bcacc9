package io.kvgate.evaluator.tasks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.kvgate.models.KvgateException;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Reads JSONL task files: one {@code {"id","task","context","query","answer"}} object per line. A malformed
 * line is reported with its line number and skipped; the other lines are still evaluated. A file with no
 * usable line at all is an error.
 */
public final class TaskFile {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> FIELDS = List.of("task", "context", "query", "answer");

    /** Tasks read and the problems met (one line each, naming the file and line). */
    public record Loaded(List<Task> tasks, List<String> problems) {}

    private TaskFile() {}

    public static Loaded read(Path file) {
        if (!Files.isRegularFile(file)) throw new KvgateException("task file " + file + " does not exist");
        List<Task> tasks = new ArrayList<>();
        List<String> problems = new ArrayList<>();
        Set<String> ids = new HashSet<>();
        try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            String text;
            int line = 0;
            while ((text = in.readLine()) != null) {
                line++;
                if (text.isBlank()) continue;
                try {
                    Task t = parse(text, line);
                    if (!ids.add(t.id())) throw new KvgateException("duplicate id '" + t.id() + "'");
                    tasks.add(t);
                } catch (KvgateException e) {
                    problems.add(file + ":" + line + ": " + e.getMessage() + " (line skipped)");
                }
            }
        } catch (IOException e) {
            throw new KvgateException("cannot read task file " + file + ": " + e.getMessage(), e);
        }
        if (tasks.isEmpty())
            throw new KvgateException("task file " + file + " holds no valid task"
                    + (problems.isEmpty() ? "" : " (first problem: " + problems.get(0) + ")"));
        return new Loaded(tasks, problems);
    }

    static Task parse(String text, int line) {
        JsonNode node;
        try {
            node = JSON.readTree(text);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new KvgateException("not valid JSON (" + e.getOriginalMessage() + ")");
        }
        if (node == null || !node.isObject()) throw new KvgateException("expected a JSON object");
        for (String f : FIELDS) {
            JsonNode v = node.get(f);
            if (v == null) throw new KvgateException("missing field '" + f + "'");
            if (!v.isTextual()) throw new KvgateException("field '" + f + "' must be a string");
        }
        if (node.get("task").asText().isBlank()) throw new KvgateException("field 'task' is empty");
        if (node.get("context").asText().isEmpty()) throw new KvgateException("field 'context' is empty");
        if (node.get("query").asText().isEmpty()) throw new KvgateException("field 'query' is empty");
        if (node.get("answer").asText().isEmpty()) throw new KvgateException("field 'answer' is empty");
        JsonNode id = node.get("id");
        String ident = id == null || id.isNull() ? "line-" + line : id.asText();
        return new Task(ident, node.get("task").asText(), node.get("context").asText(), node.get("query").asText(),
                node.get("answer").asText(), line);
    }

    /** Writes tasks as JSONL text (for generated suites). */
    public static String toJsonl(List<Task> tasks) {
        StringBuilder sb = new StringBuilder();
        for (Task t : tasks) {
            var o = JSON.createObjectNode();
            o.put("id", t.id()).put("task", t.task()).put("context", t.context()).put("query", t.query()).put("answer", t.answer());
            sb.append(o).append('\n');
        }
        return sb.toString();
    }
}
