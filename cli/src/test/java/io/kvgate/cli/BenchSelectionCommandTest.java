package io.kvgate.cli;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `kvgate bench selection` prints a row per size and mode, ratios to one thread (no timing asserted). */
class BenchSelectionCommandTest {
    @Test
    void printsEveryModeForEverySize() {
        CliRun r = CliRun.run("bench", "selection", "--layers", "3", "--kv-heads", "2", "--entries", "100,700", "--warmup", "1", "--reps", "2");
        assertEquals(0, r.code(), r.err());
        for (String n : List.of("100", "700"))
            for (String mode : List.of("1 thread", "pool, default threshold", "pool, always split"))
                assertTrue(r.out().lines().anyMatch(l -> l.matches("\\| " + n + " +\\| \\d+ +\\| " + java.util.regex.Pattern.quote(mode)
                        + " +\\| \\d+\\.\\d{3} +\\| \\d+\\.\\d{3} +\\| \\d+\\.\\d\\dx +\\|")), n + " / " + mode + " row missing:\n" + r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.matches("\\| 100 .*\\| 1 thread .*\\| 1\\.00x +\\|")), r.out());
        // then the re-layout's staging: 1 int a row (the gather index), 3 layers x 2 heads x rows per head
        for (String row : List.of("100 +\\| 600", "700 +\\| 4200"))
            for (String buffer : List.of("fresh \\(CPU uploads\\)", "reused \\(GPU uploads\\)"))
                assertTrue(r.out().lines().anyMatch(l -> l.matches("\\| " + row + " +\\| " + buffer + " +\\| \\d+\\.\\d{3} +\\| \\d+\\.\\d{3} +\\| \\d+\\.\\d\\dx +\\|")),
                        row + " / " + buffer + " missing:\n" + r.out());
    }

    @Test
    void badRatioIsABadInput() {
        CliRun r = CliRun.run("bench", "selection", "--ratio", "1.5");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("--ratio"), r.err());
    }
}
