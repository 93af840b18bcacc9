package io.kvgate.tests;

import io.kvgate.cli.CliRun;
import io.kvgate.cli.config.ExperimentConfig;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Bad experiment configs each give exit code 2 and one line naming the file and line (or the --set), the key,
 * and the problem; nothing runs. Good configs (the shipped ones included) parse into the expected values.
 */
class ConfigValidationTest {
    static final Path TINY = Path.of("../checkpoints/tiny-retrieval-qwen3").toAbsolutePath().normalize();

    @TempDir
    Path dir;

    @BeforeEach
    void corpusFile() throws IOException {
        Files.writeString(dir.resolve("docs.txt"), "Some prose.\n");
    }

    /** A valid config; {@code replace} swaps one line (matched by its start) to make it bad. */
    private String base() {
        return String.join("\n",
                "name: t",                                   // 1
                "model:",                                    // 2
                "  path: " + TINY,                           // 3
                "  device: cpu",                             // 4
                "corpus:",                                   // 5
                "  sources: [docs.txt]",                     // 6
                "  sample_fraction: 0.5",                    // 7
                "gates:",                                    // 8
                "  types: [sink, linear]",                   // 9
                "  steps: 10",                               // 10
                "eval:",                                     // 11
                "  ratios: [0.2, 0.3]",                      // 12
                "  policies: [full, gate, snapkv]",          // 13
                "  tasks:",                                  // 14
                "    suites: [passkey]",                     // 15
                "    per_suite: 2",                          // 16
                "");
    }

    private Path write(String yaml) throws IOException {
        Path f = dir.resolve("exp.yaml");
        Files.writeString(f, yaml);
        return f;
    }

    private String edit(String startOfLine, String replacement) {
        List<String> out = new ArrayList<>();
        boolean found = false;
        for (String line : base().split("\n")) {
            if (!found && line.startsWith(startOfLine)) {
                found = true;
                if (replacement != null) out.add(replacement);
            } else {
                out.add(line);
            }
        }
        assertTrue(found, "no line starts with " + startOfLine);
        return String.join("\n", out) + "\n";
    }

    /** Runs {@code kvgate run} and checks: exit 2, exactly one line, which contains every fragment. */
    private String fails(Path config, List<String> extraArgs, String... fragments) {
        List<String> args = new ArrayList<>(List.of("run", config.toString(), "--out", dir.resolve("run").toString()));
        args.addAll(extraArgs);
        CliRun r = CliRun.run(args.toArray(String[]::new));
        String err = r.err().strip();
        assertEquals(2, r.code(), "exit code; stderr: " + err);
        assertEquals(1, err.lines().count(), "one line expected, got:\n" + err);
        assertTrue(err.startsWith("kvgate: error: "), err);
        for (String f : fragments) assertTrue(err.contains(f), "'" + f + "' not in: " + err);
        assertFalse(Files.exists(dir.resolve("run").resolve("state")), "no stage may run on a bad config");
        return err;
    }

    private String fails(String yaml, String... fragments) throws IOException {
        return fails(write(yaml), List.of(), fragments);
    }

    @Test
    void typoInKeySuggestsTheRealOne() throws IOException {
        fails(edit("  steps:", "  stpes: 10"), "exp.yaml:10:", "gates.stpes: unknown key", "did you mean 'steps'?");
    }

    @Test
    void typoInSectionName() throws IOException {
        fails(edit("gates:", "gatse:"), "exp.yaml:8:", "gatse: unknown key", "did you mean 'gates'?");
    }

    @Test
    void ratioAboveOne() throws IOException {
        fails(edit("  ratios:", "  ratios: [0.2, 1.5]"), "exp.yaml:12:", "eval.ratios[1]", "1.5 is out of range", "(0, 1]");
    }

    @Test
    void emptyRatios() throws IOException {
        fails(edit("  ratios:", "  ratios: []"), "exp.yaml:12:", "eval.ratios: must not be empty");
    }

    @Test
    void missingModelPath() throws IOException {
        fails(edit("  path:", null), "exp.yaml:2:", "model.path: missing required key");
    }

    @Test
    void modelPathThatIsNotACheckpoint() throws IOException {
        fails(edit("  path:", "  path: no/such/model"), "exp.yaml:3:", "model.path", "no/such/model is not a directory");
    }

    @Test
    void wrongTypeForAnInteger() throws IOException {
        fails(edit("  steps:", "  steps: many"), "exp.yaml:10:", "gates.steps: expected an integer, got 'many'");
    }

    @Test
    void sectionGivenAsAValue() throws IOException {
        String yaml = base().replace("gates:\n  types: [sink, linear]\n  steps: 10\n", "gates: linear\n");
        fails(yaml, "exp.yaml:8:", "gates: expected a mapping");
    }

    @Test
    void unreadableCorpus() throws IOException {
        fails(edit("  sources:", "  sources: [docs.txt, missing.jsonl]"), "exp.yaml:6:", "corpus.sources[1]",
                "missing.jsonl does not exist");
    }

    @Test
    void negativeSampleFraction() throws IOException {
        fails(edit("  sample_fraction:", "  sample_fraction: -0.1"), "exp.yaml:7:", "corpus.sample_fraction",
                "-0.1 is out of range");
    }

    @Test
    void unknownGateType() throws IOException {
        fails(edit("  types:", "  types: [sink, mlp]"), "exp.yaml:9:", "gates.types[1]: unknown value 'mlp'",
                "expected one of sink, linear");
    }

    @Test
    void unknownPolicySuggestsTheRealOne() throws IOException {
        fails(edit("  policies:", "  policies: [full, snapvk]"), "exp.yaml:13:", "eval.policies[1]",
                "unknown value 'snapvk'", "did you mean 'snapkv'?");
    }

    @Test
    void scoringChunkTooSmall() throws IOException {
        fails(edit("gates:", "scoring:\n  chunk_size: 5\ngates:"), "exp.yaml:9:", "scoring.chunk_size",
                "expected 'auto' (128 for the tiny model, 2000 otherwise) or a number of tokens >= 16, got 5");
    }

    @Test
    void scoringChunkThatIsNeitherAutoNorANumber() throws IOException {
        fails(edit("gates:", "scoring:\n  chunk_size: abc\ngates:"), "exp.yaml:9:", "scoring.chunk_size",
                "expected 'auto'", "got 'abc'");
    }

    @Test
    void scoringChunkDefaultsToAutoAndTakesNumbers() throws IOException {
        assertNull(ExperimentConfig.load(write(base()), List.of()).scoring().chunkSize(), "absent: auto, the model's rule");
        assertNull(ExperimentConfig.load(write(base()), List.of("scoring.chunk_size=auto")).scoring().chunkSize());
        ExperimentConfig c = ExperimentConfig.load(write(base()), List.of("scoring.chunk_size=256"));
        assertEquals(256, c.scoring().chunkSize());
        assertTrue(c.toYaml().contains("chunk_size: 256"), c.toYaml());
        // auto survives the round trip through the resolved config
        assertTrue(ExperimentConfig.load(write(base()), List.of()).toYaml().contains("chunk_size: auto"));
    }

    @Test
    void float16OnCpu() throws IOException {
        fails(edit("  device:", "  dtype: float16"), "exp.yaml:4:", "model.dtype", "needs device: gpu");
    }

    @Test
    void notYaml() throws IOException {
        fails(edit("  policies:", "  policies: [full, gate"), "exp.yaml:", "not valid YAML");
    }

    @Test
    void missingConfigFile() {
        fails(dir.resolve("nope.yaml"), List.of(), "nope.yaml: config file does not exist");
    }

    @Test
    void badSetValueNamesTheSet() throws IOException {
        fails(write(base()), List.of("--set", "eval.ratios=0.2,1.5"),
                "--set eval.ratios=0.2,1.5: eval.ratios[1]: 1.5 is out of range");
    }

    @Test
    void setOfAnUnknownKey() throws IOException {
        fails(write(base()), List.of("--set", "gates.lamdbas=1"), "--set gates.lamdbas=1: gates.lamdbas: unknown key",
                "did you mean 'lambdas'?");
    }

    @Test
    void setWithoutEquals() throws IOException {
        fails(write(base()), List.of("--set", "eval.ratios"), "--set eval.ratios: expected KEY=VALUE");
    }

    @Test
    void setIntoAValue() throws IOException {
        fails(write(base()), List.of("--set", "model.path.x=1"), "--set model.path.x=1: model.path is a single value");
    }

    @Test
    void unknownForcedStage() throws IOException {
        fails(write(base()), List.of("--force", "trian"), "--force trian: no such stage", "train-sink");
    }

    @Test
    void overridesReplaceListsAndValues() throws IOException {
        ExperimentConfig c = ExperimentConfig.load(write(base()),
                List.of("gates.types=[linear]", "eval.ratios=0.2,0.3,0.5", "corpus.sample_fraction=0.1", "eval.window=paper",
                        "eval.kvzip_chunk=256"));
        assertEquals(List.of("linear"), c.gates().types());
        assertEquals(256, c.eval().kvzipChunk());
        assertEquals(List.of(0.2, 0.3, 0.5), c.eval().ratios());
        assertEquals(0.1, c.corpus().sampleFraction());
        assertEquals(20, c.eval().window().tokensFor(1000), "2% of a short context");
        assertEquals(dir.resolve("docs.txt"), c.corpus().paths().get(0), "relative paths resolve against the config's directory");
        assertEquals("t", c.name());
    }

    @Test
    void shippedConfigsParse() {
        ExperimentConfig q = ExperimentConfig.load(Path.of("../configs/quickstart.yaml"), List.of());
        assertEquals("quickstart", q.name());
        assertEquals(TINY, q.model().path());
        assertTrue(q.corpus().embedded());
        assertEquals(List.of("sink", "linear"), q.gates().types());
        assertEquals(List.of(0.1, 0.2, 0.3, 0.5), q.eval().ratios());
        assertTrue(q.eval().policies().containsAll(List.of("full", "gate", "kvzip", "snapkv", "streaming", "random")));
        assertEquals(null, q.eval().kvzipChunk(), "the oracle's chunk follows the model (RepeatPrompts.defaultChunk)");
        assertEquals(null, q.scoring().chunkSize(), "so does the gates' teacher's: auto, the same rule");
        // The round trip: the resolved config is itself a valid config that resolves to the same values.
        assertTrue(q.toYaml().contains("sample_fraction: 0.5"), q.toYaml());
    }

    /** The real-model templates use only valid keys and values: they parse once their paths exist here. */
    @Test
    void templatesParseWithLocalPaths() throws IOException {
        Path tasks = Files.writeString(dir.resolve("tasks.jsonl"), "{}\n");
        for (String name : List.of("qwen3-8b", "qwen2.5-7b-instruct-1m", "gemma3-12b-it")) {
            ExperimentConfig c = ExperimentConfig.load(Path.of("../configs/" + name + ".yaml"), List.of(
                    "model.path=" + TINY, "corpus.sources=[embedded]", "eval.tasks.file=" + tasks));
            assertEquals(name, c.name());
            assertEquals(List.of(0.75, 0.5, 0.4, 0.3, 0.2), c.eval().ratios(), name);
            assertEquals(2000, c.scoring().chunkSize(), name);
            assertEquals(io.kvgate.objectives.RepeatPrompts.Style.CHAT, c.scoring().style(), name + ": chat wrapping");
            assertEquals(10000, c.corpus().minTokens(), name);
            assertEquals(320, c.eval().window().tokensFor(16000), name + ": 2% below 16K");
            assertEquals(4096, c.eval().window().tokensFor(100_000), name + ": 4096 beyond");
        }
    }

    @Test
    void suitesWithCountsAndTheirTypos() throws IOException {
        String counts = base().replace("    suites: [passkey]\n    per_suite: 2\n", "    suites: {passkey: 3, repeat: 1}\n");
        ExperimentConfig c = ExperimentConfig.load(write(counts), List.of());
        assertEquals(java.util.Map.of("passkey", 3, "repeat", 1), c.eval().tasks().suites());
        fails(base().replace("    suites: [passkey]\n    per_suite: 2\n", "    suites: {passkey: 3, repaet: 1}\n"),
                "exp.yaml:15:", "eval.tasks.suites.repaet: unknown key", "did you mean 'repeat'?");
    }

    @Test
    void windowThatIsNeitherTokensNorPaper() throws IOException {
        fails(edit("  ratios:", "  window: 2 percent"), "exp.yaml:12:", "eval.window", "expected a number of tokens or 'paper'");
    }
}
