package io.kvgate.tests;

import io.kvgate.cli.CliRun;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code kvgate run configs/quickstart.yaml}, reduced (4 documents, 2 passkey + 2 key-value tasks, 2 ratios,
 * few sink steps), on the tiny model: the summary and every artifact exist and make sense (and the gate artifact
 * works with {@code kvgate eval} on its own); a second run skips
 * every stage and leaves the results byte-identical; an interrupted collection (a lost shard) resumes, rebuilds
 * the same features, and the downstream stages are then skipped because their inputs' content is unchanged; a
 * sink-only setting reruns the sink fit and the evaluation, nothing else.
 */
class QuickstartEndToEndTest {
    @TempDir
    Path out;

    private CliRun run(String... extra) {
        List<String> args = new ArrayList<>(List.of("--quiet", "run", "../configs/quickstart.yaml", "--out", out.toString(),
                "--set", "corpus.max_documents=4", "--set", "corpus.documents_per_shard=2", "--set", "fitting.held_out_every=10",
                "--set", "gates.steps=30",
                "--set", "eval.tasks.suites=[passkey, kv]", "--set", "eval.tasks.per_suite=2",
                "--set", "eval.ratios=0.3,0.5", "--set", "eval.policies=[full, gate, kvzip, streaming]",
                "--set", "export.path=" + exported()));
        args.addAll(List.of(extra));
        CliRun r = CliRun.run(args.toArray(String[]::new));
        assertEquals(0, r.code(), () -> "exit code; stderr:\n" + r.err() + "\nstdout:\n" + r.out());
        return r;
    }

    @Test
    void reducedQuickstartRunsThenSkipsThenResumes() throws IOException {
        CliRun first = run();
        String summary = first.out();
        for (String stage : List.of("collect", "train-sink", "train-linear", "eval")) {
            assertTrue(summary.contains("| " + stage), "stage table lists " + stage + ":\n" + summary);
        }
        assertTrue(summary.contains("Gates (held-out tokens, all layers)"), summary);
        assertTrue(summary.contains("Accuracy (exact-prefix"), summary);
        for (String p : List.of("full", "gate-sink", "gate-linear", "kvzip", "streaming")) {
            assertTrue(summary.contains("| " + p + " "), "policy " + p + " in the summary:\n" + summary);
        }
        for (String f : List.of("resolved-config.yaml", "summary.md", "features/manifest.json", "gates/sink/gates.safetensors",
                "gates/sink/manifest.json", "gates/linear/gates.safetensors", "gates/linear/manifest.json",
                "eval/results.csv", "eval/results.json", "eval/report.md", "eval/accuracy.png", "logs/run.log",
                "state/collect.done.json", "state/train-sink.done.json", "state/train-linear.done.json", "state/eval.done.json")) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f + " exists");
        }
        assertTrue(Files.size(out.resolve("eval/accuracy.png")) > 1000, "a real plot");
        for (String f : List.of("sink/gates.safetensors", "sink/manifest.json", "linear/gates.safetensors", "linear/manifest.json")) {
            assertArrayEquals(Files.readAllBytes(out.resolve("gates/" + f)), Files.readAllBytes(exported().resolve(f)), "export.path copy of " + f);
        }
        assertTrue(summary.contains(out.resolve("eval/accuracy.png").toString()), "summary names the plot");

        // The numbers mean something: the full cache solves the passkey / key-value tasks; the gates were measured on
        // held-out tokens; at 30 % kept the gate holds about 30 % of the full cache's bytes.
        Map<String, Double> accuracy = column(out.resolve("eval/results.csv"), "accuracy");
        assertTrue(accuracy.get("passkey/full/0.3") >= 0.5 && accuracy.get("kv/full/0.3") >= 0.5, accuracy.toString());
        Map<String, Double> kvFraction = column(out.resolve("eval/results.csv"), "kv_fraction");
        assertTrue(kvFraction.get("passkey/gate-sink/0.3") <= 0.35, kvFraction.toString());
        for (String type : List.of("sink", "linear")) {
            JsonNode overall = new ObjectMapper().readTree(out.resolve("gates/" + type + "/manifest.json").toFile()).path("metrics").path("overall");
            assertTrue(overall.path("pairs").asLong() > 100, type + " held-out pairs: " + overall);
            assertTrue(overall.path("agreement").asDouble() > 0.5, type + " held-out agreement: " + overall);
        }

        // The exported artifact works on its own with `kvgate eval`.
        Path alone = out.resolveSibling(out.getFileName() + "-eval-alone");
        CliRun eval = CliRun.run("--quiet", "eval", "--model", ConfigValidationTest.TINY.toString(),
                "--gates", out.resolve("gates/sink").toString(), "--generate", "passkey:2", "--ratios", "0.3",
                "--policies", "full,gate", "--window", "16", "--out", alone.toString());
        assertEquals(0, eval.code(), eval.err());
        assertTrue(column(alone.resolve("results.csv"), "accuracy").containsKey("passkey/gate/0.3"), eval.out());

        // Rerun: nothing to do, same results byte for byte, same summary tables.
        Map<String, byte[]> before = snapshot();
        CliRun second = run();
        assertEquals(4, second.out().lines().filter(l -> l.contains("up to date, skipped")).count(), second.out());
        assertTrue(second.out().contains("| eval         | skipped |"), second.out());
        assertSameFiles(before, snapshot());
        assertEquals(tables(summary), tables(second.out()));

        // An interrupted collection: its completion record never written, one shard lost. The rerun resumes
        // (keeps the other shard), rebuilds identical features, so the gates and the evaluation stay as they were.
        Path record = out.resolve("state/collect.done.json");
        String inputs = new ObjectMapper().readTree(record.toFile()).path("inputs").asText();
        Files.delete(record);
        Files.writeString(out.resolve("state/collect.started.json"), "{\"inputs\": \"" + inputs + "\"}\n");
        deleteRecursively(out.resolve("features/shard-00001"));
        CliRun third = run();
        assertTrue(third.out().contains("collect       resuming"), third.out());
        assertTrue(third.out().contains("1 written, 1 kept"), third.out());
        assertEquals(3, third.out().lines().filter(l -> l.contains("up to date, skipped")).count(), third.out());
        assertSameFiles(before, snapshot());

        // A sink solver setting changes only what reads it: the sink gate is refitted and re-evaluated.
        CliRun fourth = run("--set", "gates.steps=31");
        assertTrue(fourth.out().contains("collect       up to date"), fourth.out());
        assertTrue(fourth.out().contains("train-linear  up to date"), fourth.out());
        assertTrue(fourth.out().contains("| train-sink   | ran "), fourth.out());
        assertTrue(fourth.out().contains("| eval         | ran "), fourth.out());
    }

    private Path exported() {
        return out.resolveSibling(out.getFileName() + "-export");
    }

    /** Every output file's bytes (state records and the run log change by design). */
    private Map<String, byte[]> snapshot() throws IOException {
        Map<String, byte[]> m = new HashMap<>();
        try (Stream<Path> s = Files.walk(out)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) {
                String rel = out.relativize(p).toString();
                if (rel.startsWith("state") || rel.startsWith("logs") || rel.equals("summary.md")) continue;
                m.put(rel, Files.readAllBytes(p));
            }
        }
        return m;
    }

    private static void assertSameFiles(Map<String, byte[]> expected, Map<String, byte[]> actual) {
        assertEquals(expected.keySet(), actual.keySet());
        for (String k : expected.keySet()) assertArrayEquals(expected.get(k), actual.get(k), k + " changed");
    }

    /** The summary without the stage table (statuses and times differ between runs). */
    private static String tables(String summary) {
        int at = summary.indexOf("Gates (held-out");
        return summary.substring(at);
    }

    /** results.csv: task/policy/ratio -> value of {@code column}. */
    private static Map<String, Double> column(Path csv, String column) throws IOException {
        List<String> lines = Files.readAllLines(csv);
        List<String> header = List.of(lines.get(0).split(","));
        int c = header.indexOf(column);
        Map<String, Double> m = new HashMap<>();
        for (String line : lines.subList(1, lines.size())) {
            String[] f = line.split(",", -1);
            m.put(f[0] + "/" + f[1] + "/" + f[2], Double.parseDouble(f[c]));
        }
        return m;
    }

    private static void deleteRecursively(Path p) throws IOException {
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted((a, b) -> b.compareTo(a)).toList()) Files.delete(q);
        }
    }
}
