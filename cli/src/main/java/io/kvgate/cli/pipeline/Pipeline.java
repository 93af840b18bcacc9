package io.kvgate.cli.pipeline;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.kvgate.models.KvgateException;
import io.kvgate.models.util.AtomicFiles;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Runs stages in order inside one experiment directory, skipping those whose work is already done.
 *
 * <p>A stage is skipped when its completion record ({@code state/<stage>.done.json}) has the same inputs hash
 * (its config-derived inputs plus the content digests of its upstream outputs) and its output files still have
 * the recorded content. Otherwise its record is removed first, then either it continues an interrupted run of
 * the same inputs (resumable stages; a {@code state/<stage>.started.json} says which inputs that was) or its
 * directory is emptied, and it runs. {@code --force} reruns a stage and everything downstream of it.
 */
public final class Pipeline {
    private final Path runDir;
    private final List<Stage> stages;
    private final PrintStream out;

    public Pipeline(Path runDir, List<Stage> stages, PrintStream out) {
        this.runDir = runDir;
        this.stages = List.copyOf(stages);
        this.out = out;
        Set<String> seen = new HashSet<>();
        for (Stage s : stages) {
            for (String u : s.upstream()) {
                if (!seen.contains(u)) throw new IllegalArgumentException(s.name() + " reads " + u + ", which does not run before it");
            }
            if (!seen.add(s.name())) throw new IllegalArgumentException("two stages named " + s.name());
        }
    }

    public Path stateDir() {
        return runDir.resolve("state");
    }

    public Path logFile() {
        return runDir.resolve("logs").resolve("run.log");
    }

    /** Stage names and groups {@code --force} accepts. */
    public List<String> forceNames() {
        Set<String> names = new LinkedHashSet<>();
        for (Stage s : stages) {
            names.add(s.group());
            names.add(s.name());
        }
        return List.copyOf(names);
    }

    /** Runs (or skips) every stage; {@code force} holds stage names or groups to redo with their downstream. */
    public List<StageOutcome> run(Set<String> force) {
        List<String> known = forceNames();
        for (String f : force) {
            if (!known.contains(f)) {
                throw new KvgateException("--force " + f + ": no such stage; expected one of " + String.join(", ", known));
            }
        }
        Set<String> forced = new HashSet<>();
        Map<String, String> digests = new LinkedHashMap<>();
        List<StageOutcome> outcomes = new ArrayList<>();
        int i = 0;
        for (Stage stage : stages) {
            i++;
            boolean force1 = force.contains(stage.name()) || force.contains(stage.group())
                    || stage.upstream().stream().anyMatch(forced::contains);
            if (force1) forced.add(stage.name());
            StageOutcome o = runOne(stage, force1, digests, String.format("[%d/%d]", i, stages.size()));
            digests.put(stage.name(), o.outputsDigest());
            outcomes.add(o);
        }
        return outcomes;
    }

    private StageOutcome runOne(Stage stage, boolean force, Map<String, String> digests, String counter) {
        Map<String, String> upstreamDigests = new LinkedHashMap<>();
        Map<String, Path> upstreamDirs = new LinkedHashMap<>();
        for (String u : stage.upstream()) {
            upstreamDigests.put(u, digests.get(u));
            upstreamDirs.put(u, outputOf(u));
        }
        Map<String, Object> inputs = stage.inputs();
        String inputsHash = InputsHash.of(stage.name(), inputs, upstreamDigests);
        Path output = runDir.resolve(stage.outputDir());
        Path done = stateDir().resolve(stage.name() + ".done.json");
        Path started = stateDir().resolve(stage.name() + ".started.json");

        CompletionRecord record = CompletionRecord.read(done);
        if (!force && record != null && record.inputs().equals(inputsHash)) {
            Map<String, DirectoryDigest.FileEntry> now = DirectoryDigest.files(output, record.files());
            if (DirectoryDigest.combine(now).equals(record.outputs()) && now.keySet().equals(record.files().keySet())) {
                say(counter + " " + pad(stage.name()) + " up to date, skipped");
                return new StageOutcome(stage.name(), StageOutcome.Status.SKIPPED, 0, record.outputs());
            }
            say(counter + " " + pad(stage.name()) + " outputs changed since it finished; running again");
        }

        try {
            Files.deleteIfExists(done);
            boolean resuming = !force && stage.resumable() && inputsHash.equals(startedInputs(started)) && Files.isDirectory(output);
            if (!resuming) AtomicFiles.deleteRecursively(output);
            Files.createDirectories(output);
            AtomicFiles.writeString(started, "{\"inputs\": \"" + inputsHash + "\"}\n");
            say(counter + " " + pad(stage.name()) + (resuming ? " resuming" : " running") + " -> " + runDir.relativize(output));
            long t0 = System.nanoTime();
            stage.run(new StageContext(runDir, output, upstreamDirs, resuming, out));
            double seconds = (System.nanoTime() - t0) / 1e9;
            Map<String, DirectoryDigest.FileEntry> files = DirectoryDigest.files(output, Map.of());
            String outputs = DirectoryDigest.combine(files);
            new CompletionRecord(stage.name(), inputsHash, outputs, files, inputs, seconds).write(done);
            Files.deleteIfExists(started);
            say(counter + " " + pad(stage.name()) + String.format(" done in %.1fs", seconds));
            return new StageOutcome(stage.name(), resuming ? StageOutcome.Status.RESUMED : StageOutcome.Status.RAN, seconds, outputs);
        } catch (IOException e) {
            throw new KvgateException("cannot prepare " + output + ": " + e.getMessage(), e);
        }
    }

    private Path outputOf(String stageName) {
        for (Stage s : stages) if (s.name().equals(stageName)) return runDir.resolve(s.outputDir());
        throw new IllegalArgumentException("no stage " + stageName);
    }

    private static String startedInputs(Path started) {
        if (!Files.isRegularFile(started)) return null;
        try {
            return new ObjectMapper().readTree(started.toFile()).path("inputs").asText(null);
        } catch (IOException e) {
            return null;
        }
    }

    private void say(String line) {
        out.println(line);
        try {
            Files.createDirectories(logFile().getParent());
            Files.writeString(logFile(), Instant.now() + " " + line + "\n", StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException ignored) {
            // the log is a convenience; the stage result does not depend on it
        }
    }

    private static String pad(String name) {
        return String.format("%-13s", name);
    }
}
