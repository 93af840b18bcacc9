package io.kvgate.cli;

import io.kvgate.datasets.FeatureDataset;
import io.kvgate.datasets.FeatureManifest;
import io.kvgate.models.util.Progress;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static io.kvgate.cli.GenerateCommandTest.TINY;
import static io.kvgate.cli.GenerateCommandTest.assertBadInput;
import static io.kvgate.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code kvgate collect} on the tiny model and the embedded corpus, a resumed rerun, and bad input. */
class CollectCommandTest {
    @BeforeAll
    static void quiet() {
        Progress.setEnabled(false);
    }

    @Test
    void collectsThenSkipsCompletedShardsOnRerun(@TempDir Path dir) {
        String out = dir.resolve("features").toString();
        String[] args = {"collect", "--model", TINY, "--corpus", "embedded", "--min-tokens", "250", "--max-tokens", "320",
                "--max-documents", "2", "--docs-per-shard", "1", "--sample-fraction", "0.1", "--out", out};
        CliRun first = run(args);
        assertEquals(0, first.code(), first.err());
        assertTrue(first.out().contains("corpus: 2 documents used"), first.out());
        assertTrue(first.out().contains("2 shards (2 written, 0 already complete)"), first.out());
        FeatureManifest m = FeatureDataset.open(Path.of(out)).manifest();
        assertEquals("f16", m.hiddenDtype());
        assertEquals("tiny", m.scoring().get("context_style"));
        assertEquals("<|im_start|>{text}<|im_end|>", m.scoring().get("context_template"));
        assertEquals("128", m.scoring().get("chunk_size"), "--chunk auto: the tiny model's chunk, as the eval oracle's");
        assertEquals("auto", m.scoring().get("chunk_setting"));
        assertTrue(m.tokens() >= 2 * 25, "tokens " + m.tokens());

        CliRun again = run(args);
        assertEquals(0, again.code(), again.err());
        assertTrue(again.out().contains("2 shards (0 written, 2 already complete)"), again.out());
    }

    @Test
    void badInputGivesOneClearLine(@TempDir Path dir) throws Exception {
        String out = dir.resolve("f").toString();
        assertBadInput(run("collect", "--model", TINY, "--corpus", dir.resolve("nope").toString(), "--out", out),
                "no such file or directory");
        Path jsonl = dir.resolve("docs.jsonl");
        Files.writeString(jsonl, "{\"body\": \"" + "x".repeat(300) + "\"}\n");
        assertBadInput(run("collect", "--model", TINY, "--corpus", jsonl.toString(), "--out", out),
                jsonl + ":1: no field 'text' (fields: body)");
        assertBadInput(run("collect", "--model", TINY, "--corpus", "embedded", "--max-tokens", "5000", "--out", out),
                "max tokens 5000: the model scores contexts of at most");
        assertBadInput(run("collect", "--model", TINY, "--corpus", "embedded", "--min-tokens", "600", "--max-tokens", "650", "--out", out),
                "no usable documents");
        assertBadInput(run("collect", "--model", TINY, "--corpus", "embedded", "--hidden-dtype", "f8", "--out", out),
                "hidden dtype 'f8': expected f16 or f32");
        assertBadInput(run("collect", "--model", TINY, "--corpus", "embedded", "--sample-fraction", "1.5", "--out", out),
                "sample fraction must be in (0, 1]");
        assertBadInput(run("collect", "--model", TINY, "--corpus", "embedded", "--chunk", "5", "--out", out),
                "--chunk: expected 'auto' (128 for the tiny model, 2000 otherwise) or a number of tokens >= 16, got 5");
        assertBadInput(run("collect", "--model", TINY, "--corpus", "embedded", "--chunk", "abc", "--out", out),
                "--chunk: " + io.kvgate.trainer.collect.ScoringChunk.EXPECTED + ", got 'abc'");
    }
}
