package io.kvgate.cli;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `kvgate bench gates` prints a row per size and part, ratios to the gates' own ops (no timing asserted). */
class BenchGatesCommandTest {
    @Test
    void printsEveryPartForEverySize() {
        if (System.getenv("KVGATE_FUSED_ATTENTION") != null) return; // a GPU shell: the module's row is timed, not skipped
        CliRun r = CliRun.run("bench", "gates", "--device", "cpu", "--dtype", "float32", "--layers", "2", "--hidden", "32",
                "--kv-heads", "2", "--tokens", "8,40", "--warmup", "1", "--reps", "2");
        assertEquals(0, r.code(), r.err());
        for (String n : List.of("8", "40")) {
            for (String part : List.of("stack of n [T, hidden] inputs", "projections only", "gates' own ops"))
                assertTrue(r.out().lines().anyMatch(l -> l.matches("\\| " + n + " +\\| " + java.util.regex.Pattern.quote(part)
                        + " +\\| \\d+\\.\\d{3} +\\| \\d+\\.\\d{3} +\\| \\d+\\.\\d{3}x +\\|")), n + " / " + part + " row missing:\n" + r.out());
            assertTrue(r.out().lines().anyMatch(l -> l.matches("\\| " + n + " +\\| one call \\(module, kernel\\) +\\| - +\\| - +\\| - +\\|")), r.out());
        }
        assertTrue(r.out().contains("its row is skipped"), r.out());
    }

    @Test
    void badTokensAreABadInput() {
        CliRun r = CliRun.run("bench", "gates", "--tokens", "0");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("--tokens"), r.err());
    }
}
