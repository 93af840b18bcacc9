package io.kvgate.cli;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `kvgate bench kvzip` runs end to end and prints one row per context with its ratio (no timing asserted). */
class BenchKvzipCommandTest {
    static final String MODEL = ForwardCommandTest.FIXTURES.resolve("qwen3-tiny-a").toString();

    @Test
    void printsOneRowWithARatioPerContext() {
        CliRun r = CliRun.run("bench", "kvzip", "--model", MODEL, "--context", "12,40", "--chunk", "16", "--reps", "2");
        assertEquals(0, r.code(), r.err());
        String[] rows = r.out().lines().filter(l -> l.startsWith("| 12 ") || l.startsWith("| 40 ")).toArray(String[]::new);
        assertEquals(2, rows.length, r.out());
        assertTrue(rows[0].matches("\\| 12 .*\\| \\d+\\.\\d\\dx +\\| 1 +\\|"), rows[0]);
        assertTrue(rows[1].matches("\\| 40 .*\\| \\d+\\.\\d\\dx +\\| 3 +\\|"), rows[1]);
    }

    @Test
    void noRepetitionsIsABadInput() {
        CliRun r = CliRun.run("bench", "kvzip", "--model", MODEL, "--context", "12", "--reps", "0");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("--reps"), r.err());
    }
}
