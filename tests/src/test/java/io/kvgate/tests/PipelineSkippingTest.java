package io.kvgate.tests;

import io.kvgate.cli.pipeline.Pipeline;
import io.kvgate.cli.pipeline.Stage;
import io.kvgate.cli.pipeline.StageContext;
import io.kvgate.cli.pipeline.StageOutcome;
import io.kvgate.cli.pipeline.StageOutcome.Status;
import io.kvgate.models.KvgateException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The skipping rules of {@link Pipeline}, with fake stages that record what they did: a rerun skips everything,
 * a changed input reruns that stage (and downstream only if its output content changed), changed outputs are
 * detected by content, an interrupted resumable stage continues where it stopped, --force redoes downstream.
 */
class PipelineSkippingTest {
    @TempDir
    Path runDir;

    /**
     * Writes {@code shards} files; each holds the stage's "param" input and the upstream outputs' text, so output
     * content depends on both. {@code failAfter} >= 0 throws after writing that many shards (an interruption).
     */
    static final class FakeStage implements Stage {
        final String name;
        final List<String> upstream;
        final boolean resumable;
        final int shards;
        Object param = "p";
        Object outputParam; // what goes into the output (defaults to param): lets an input change keep outputs equal
        int failAfter = -1;
        int runs;
        final List<Integer> shardsWritten = new ArrayList<>();

        FakeStage(String name, boolean resumable, int shards, String... upstream) {
            this.name = name;
            this.resumable = resumable;
            this.shards = shards;
            this.upstream = List.of(upstream);
        }

        @Override public String name() { return name; }
        @Override public String group() { return name.replaceFirst("-.*", ""); }
        @Override public List<String> upstream() { return upstream; }
        @Override public String outputDir() { return "out/" + name; }
        @Override public boolean resumable() { return resumable; }

        @Override
        public Map<String, Object> inputs() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("param", param);
            return m;
        }

        @Override
        public void run(StageContext ctx) {
            runs++;
            try {
                StringBuilder text = new StringBuilder(String.valueOf(outputParam != null ? outputParam : param));
                for (String u : upstream) text.append('|').append(Files.readString(ctx.upstream(u).resolve("shard-0.txt")));
                for (int i = 0; i < shards; i++) {
                    Path shard = ctx.output().resolve("shard-" + i + ".txt");
                    if (Files.exists(shard)) continue; // resume: completed shards stay
                    if (failAfter >= 0 && shardsWritten.size() >= failAfter) throw new IllegalStateException("interrupted");
                    Files.writeString(shard, text + "#" + i);
                    shardsWritten.add(i);
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    FakeStage collect = new FakeStage("collect", true, 3);
    FakeStage trainA = new FakeStage("train-a", false, 1, "collect");
    FakeStage trainB = new FakeStage("train-b", false, 1, "collect");
    FakeStage eval = new FakeStage("eval", false, 1, "train-a", "train-b");

    private Map<String, Status> run(String... force) {
        Pipeline p = new Pipeline(runDir, List.of(collect, trainA, trainB, eval), new PrintStream(new ByteArrayOutputStream()));
        List<StageOutcome> outcomes = p.run(Set.of(force));
        Map<String, Status> m = new LinkedHashMap<>();
        for (StageOutcome o : outcomes) m.put(o.stage(), o.status());
        return m;
    }

    private Map<String, String> snapshot() throws IOException {
        try (Stream<Path> s = Files.walk(runDir.resolve("out"))) {
            Map<String, String> m = new HashMap<>();
            for (Path p : s.filter(Files::isRegularFile).collect(Collectors.toList())) {
                m.put(runDir.relativize(p).toString(), Files.readString(p));
            }
            return m;
        }
    }

    private static Map<String, Status> all(Status s) {
        Map<String, Status> m = new LinkedHashMap<>();
        for (String n : List.of("collect", "train-a", "train-b", "eval")) m.put(n, s);
        return m;
    }

    @Test
    void rerunSkipsEveryStageAndKeepsOutputs() throws IOException {
        assertEquals(all(Status.RAN), run());
        Map<String, String> first = snapshot();
        assertEquals(all(Status.SKIPPED), run());
        assertEquals(first, snapshot());
        assertEquals(List.of(1, 1, 1, 1), List.of(collect.runs, trainA.runs, trainB.runs, eval.runs));
        assertTrue(Files.isRegularFile(runDir.resolve("state/eval.done.json")));
        assertFalse(Files.exists(runDir.resolve("state/eval.started.json")), "started marker removed on completion");
    }

    @Test
    void changedInputRerunsThatStageAndItsDownstream() {
        run();
        trainA.param = "lambda=2";
        Map<String, Status> second = run();
        assertEquals(Status.SKIPPED, second.get("collect"));
        assertEquals(Status.RAN, second.get("train-a"));
        assertEquals(Status.SKIPPED, second.get("train-b"));
        assertEquals(Status.RAN, second.get("eval"), "eval reads train-a, whose output changed");
        assertEquals(all(Status.SKIPPED), run());
    }

    @Test
    void downstreamIsCheckedByContentNotByTheUpstreamRerun() {
        run();
        collect.outputParam = collect.param; // same output content...
        collect.param = "renamed-but-equivalent"; // ...from a changed input
        Map<String, Status> second = run();
        assertEquals(Status.RAN, second.get("collect"));
        assertEquals(Status.SKIPPED, second.get("train-a"), "identical features: the gates need not be refitted");
        assertEquals(Status.SKIPPED, second.get("eval"));
    }

    @Test
    void editedOrDeletedOutputsAreDetected() throws IOException {
        run();
        Path artifact = runDir.resolve("out/train-b/shard-0.txt");
        Files.writeString(artifact, "tampered");
        Map<String, Status> second = run();
        assertEquals(Status.RAN, second.get("train-b"));
        assertFalse(Files.readString(artifact).equals("tampered"));
        assertEquals(Status.SKIPPED, second.get("eval"), "train-b's rebuilt output equals the recorded one");

        Files.delete(runDir.resolve("out/eval/shard-0.txt"));
        assertEquals(Status.RAN, run().get("eval"));

        // Touching a file without changing it is not a change: re-hashed, equal, skipped.
        Files.setLastModifiedTime(artifact, FileTime.fromMillis(System.currentTimeMillis() + 5000));
        assertEquals(all(Status.SKIPPED), run());
    }

    @Test
    void interruptedResumableStageContinuesFromItsCompletedShards() throws IOException {
        collect.failAfter = 2;
        assertThrows(IllegalStateException.class, this::run);
        assertEquals(List.of(0, 1), collect.shardsWritten);
        assertTrue(Files.exists(runDir.resolve("state/collect.started.json")));
        assertFalse(Files.exists(runDir.resolve("state/collect.done.json")));

        collect.failAfter = -1;
        Map<String, Status> second = run();
        assertEquals(Status.RESUMED, second.get("collect"));
        assertEquals(List.of(0, 1, 2), collect.shardsWritten, "shards 0 and 1 were not redone");
        assertEquals(Status.RAN, second.get("eval"));

        // The resumed result equals an uninterrupted run's.
        Map<String, String> resumed = snapshot();
        Path fresh = runDir.resolveSibling(runDir.getFileName() + "-fresh");
        Pipeline p = new Pipeline(fresh, List.of(new FakeStage("collect", true, 3), new FakeStage("train-a", false, 1, "collect"),
                new FakeStage("train-b", false, 1, "collect"), new FakeStage("eval", false, 1, "train-a", "train-b")),
                new PrintStream(new ByteArrayOutputStream()));
        p.run(Set.of());
        try (Stream<Path> s = Files.walk(fresh.resolve("out"))) {
            for (Path f : s.filter(Files::isRegularFile).collect(Collectors.toList())) {
                assertEquals(Files.readString(f), resumed.get(fresh.relativize(f).toString()));
            }
        }
        assertEquals(resumed.size(), 6);
    }

    @Test
    void interruptedStageWithChangedInputsStartsOver() {
        collect.failAfter = 1;
        assertThrows(IllegalStateException.class, this::run);
        collect.failAfter = -1;
        collect.param = "other corpus";
        Map<String, Status> second = run();
        assertEquals(Status.RAN, second.get("collect"), "stale shards of other inputs must not be resumed");
        assertEquals(List.of(0, 0, 1, 2), collect.shardsWritten);
    }

    @Test
    void interruptedNonResumableStageIsRedoneFromEmpty() throws IOException {
        run();
        trainA.param = "changed";
        eval.failAfter = 0;
        Files.writeString(runDir.resolve("out/eval/partial.txt"), "half-written");
        assertThrows(IllegalStateException.class, this::run);
        eval.failAfter = -1;
        Map<String, Status> third = run();
        assertEquals(Status.RAN, third.get("eval"));
        assertFalse(Files.exists(runDir.resolve("out/eval/partial.txt")));
    }

    @Test
    void forceRedoesTheStageAndDownstreamOnly() {
        run();
        Map<String, Status> forced = run("train");
        assertEquals(Status.SKIPPED, forced.get("collect"));
        assertEquals(Status.RAN, forced.get("train-a"));
        assertEquals(Status.RAN, forced.get("train-b"));
        assertEquals(Status.RAN, forced.get("eval"));
        assertEquals(Status.RAN, run("collect").get("collect"), "a forced resumable stage starts from empty");
        assertEquals(2, collect.runs);
        assertEquals(List.of(0, 1, 2, 0, 1, 2), collect.shardsWritten);
        KvgateException e = assertThrows(KvgateException.class, () -> run("trian"));
        assertTrue(e.getMessage().contains("no such stage"), e.getMessage());
    }
}
