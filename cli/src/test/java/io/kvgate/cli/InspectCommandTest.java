package io.kvgate.cli;

import static io.kvgate.cli.CliRun.run;

import io.kvgate.export.ArtifactManifest;
import io.kvgate.export.CorpusSummary;
import io.kvgate.export.GateArtifact;
import io.kvgate.gates.GateMetrics;
import io.kvgate.gates.GateSet;
import io.kvgate.gates.GateType;
import io.kvgate.gates.LinearGate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InspectCommandTest {
    @TempDir
    Path tmp;

    Path artifact() {
        LinearGate g0 = new LinearGate(0, 4, 2, new float[8], new float[2]), g3 = new LinearGate(3, 4, 2, new float[8], new float[2]);
        ArtifactManifest m = new ArtifactManifest(1, GateArtifact.KVGATE_VERSION, GateType.LINEAR, Map.of("epsilon", 1e-3),
                new int[] {0, 3}, 4, 2, 1, "fp-1", "qwen3", new CorpusSummary("features/", 5000, 50),
                Map.of(0, new GateMetrics(100, 0.0123, 0.2, 0.9375, 0.81, 0.4, 0.6), 3, new GateMetrics(100, 0.02, 0.3, 0.91, 0.7, 0.4, 0.6)),
                new GateMetrics(200, 0.01615, 0.25, 0.92375, 0.75, 0.4, 0.6));
        Path dir = tmp.resolve("gates/linear");
        new GateArtifact(m, new GateSet(GateType.LINEAR, List.of(g0, g3))).write(dir);
        return dir;
    }

    @Test
    void printsManifestAndPerLayerMetrics() {
        CliRun r = run("--quiet", "inspect", artifact().toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("| linear"), r.out());
        assertTrue(r.out().contains("fp-1"), r.out());
        assertTrue(r.out().contains("[0, 3]"), r.out());
        assertTrue(r.out().contains("| 0     | 100   | 0.01230 |"), r.out());
        assertTrue(r.out().contains("0.9238"), r.out());
    }

    @Test
    void corruptArtifactIsOneLineAndExitTwo() throws Exception {
        Path dir = artifact();
        Files.writeString(dir.resolve("manifest.json"), "{ \"format\": ");
        CliRun r = run("--quiet", "inspect", dir.toString());
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("kvgate: error: ") && r.err().contains("not valid JSON") && r.err().strip().lines().count() == 1, r.err());
    }

    @Test
    void trainRefusesAMissingFeatureDirectoryAndWritesNothing() {
        Path out = tmp.resolve("out");
        CliRun r = run("--quiet", "train", "--features", tmp.resolve("nope").toString(), "--out", out.toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("no such directory"), r.err());
        assertTrue(Files.notExists(out));
        r = run("--quiet", "train", "--features", tmp.toString(), "--gate", "quadratic", "--out", out.toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("unknown gate type 'quadratic'"), r.err());
    }
}
