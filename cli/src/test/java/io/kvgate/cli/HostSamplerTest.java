package io.kvgate.cli;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HostSamplerTest {
    private static StackTraceElement frame(String cls, String method, int line, boolean nativeMethod) {
        return new StackTraceElement(cls, method, cls.substring(cls.lastIndexOf('.') + 1) + ".java", nativeMethod ? -2 : line);
    }

    @Test
    void keysByTheInnermostTwoKvgateFramesAndWhatRunsAboveThem() {
        StackTraceElement[] inLibtorch = {
                frame("ai.djl.pytorch.jni.PyTorchLibrary", "torchTo", 0, true),
                frame("ai.djl.pytorch.engine.PtNDArray", "toDevice", 120, false),
                frame("io.kvgate.models.DeviceInts", "upload", 77, false),
                frame("io.kvgate.models.KvCache", "stage", 156, false),
                frame("io.kvgate.evaluator.runtime.Evictor", "apply", 90, false)};
        assertEquals("DeviceInts.upload:77 < KvCache.stage:156 | native PyTorchLibrary.torchTo", HostSampler.key(inLibtorch));

        StackTraceElement[] ownCode = {frame("io.kvgate.evaluator.policy.Budget", "select", 40, false),
                frame("io.kvgate.evaluator.runtime.Evictor", "select", 70, false)};
        assertEquals("Budget.select:40 < Evictor.select:70 | own code", HostSampler.key(ownCode));

        StackTraceElement[] outside = {frame("java.lang.Thread", "sleep", 0, true)};
        assertEquals("(outside kvgate) | native Thread.sleep", HostSampler.key(outside));
        assertEquals("DeviceInts.upload", HostSampler.method(HostSampler.key(inLibtorch)));
        assertEquals("(outside kvgate)", HostSampler.method(HostSampler.key(outside)));
    }

    @Test
    void samplesTheStartingThreadWhileItWorks() throws InterruptedException {
        HostSampler s = HostSampler.start(100);
        long end = System.nanoTime() + 200_000_000L;
        double sink = 0;
        while (System.nanoTime() < end) sink += Math.sqrt(sink + 1);
        int n = s.samples();
        s.stop();
        String table = s.tables(5);
        assertTrue(n >= 5, "expected samples over 200 ms of work, got " + n + " (" + sink + ")");
        assertTrue(table.contains("HostSamplerTest.samplesTheStartingThreadWhileItWorks:"), table);
        assertTrue(table.contains("| HostSamplerTest.samplesTheStartingThreadWhileItWorks "), table);
    }

    @Test
    void comparesTwoRunsInMillisecondsPerRunLargestDifferenceFirst() {
        String t = HostSampler.compare("full", java.util.Map.of("Model.forward", 10, "Budget.select", 1), 0.5,
                "gate", java.util.Map.of("Model.forward", 10, "GateScorer.scores", 4), 0.5, 5);
        java.util.List<String> rows = t.lines().filter(l -> l.startsWith("| ") && !l.startsWith("| kvgate")).toList();
        assertEquals(3, rows.size(), t);
        assertTrue(rows.get(0).matches("\\| GateScorer.scores +\\| 0.000 +\\| 2.000 +\\| 2.000 +\\|"), t);
        assertTrue(rows.get(1).matches("\\| Budget.select +\\| 0.500 +\\| 0.000 +\\| -0.500 +\\|"), t);
        assertTrue(rows.get(2).matches("\\| Model.forward +\\| 5.000 +\\| 5.000 +\\| 0.000 +\\|"), t);
    }
}
