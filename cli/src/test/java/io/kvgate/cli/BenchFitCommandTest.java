package io.kvgate.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * `kvgate bench fit` fits synthetic rows through shards it writes, on the CPU device and in plain Java, prints a row per
 * stage, and both paths reach the same held-out figures (no timing asserted).
 */
class BenchFitCommandTest {
    @TempDir
    Path tmp;

    @Test
    void timesEveryStageAndBothPathsAgree() {
        Path features = tmp.resolve("features");
        String[] args = {"bench", "fit", "--hidden", "24", "--kv-heads", "2", "--group", "2", "--layers", "2", "--rows", "3000",
                "--held-out-every", "10", "--steps", "40", "--java", "--features-dir", features.toString()};
        CliRun r = CliRun.run(args);
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.isRegularFile(features.resolve("manifest.json")));
        for (String stage : List.of("read", "rows", "normal equations", "solves / λ grid", "sink init", "sink steps", "held-out metrics", "wall"))
            assertTrue(r.out().lines().anyMatch(l -> l.matches("\\| " + java.util.regex.Pattern.quote(stage) + " +\\| \\d+\\.\\d\\d +\\| \\d+\\.\\d\\d +\\| .*")),
                    stage + " row missing:\n" + r.out());
        for (String gate : List.of("sink", "linear")) {
            List<String> lines = r.out().lines().filter(l -> l.matches("\\S+ " + gate + " +held-out.*")).toList();
            assertEquals(2, lines.size(), r.out());
            assertEquals(lines.get(0).replaceFirst("^\\S+", ""), lines.get(1).replaceFirst("^\\S+", ""), "device and plain Java differ:\n" + r.out());
        }
        // a second run reuses the shards
        CliRun again = CliRun.run(args);
        assertEquals(0, again.code(), again.err());
        assertTrue(!again.out().contains("wrote "), again.out());
    }

    @Test
    void badSizesAreABadInput() {
        CliRun r = CliRun.run("bench", "fit", "--rows", "5", "--held-out-every", "10");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("--held-out-every"), r.err());
    }
}
