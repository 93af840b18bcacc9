package io.kvgate.models;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The sink-gate CUDA kernel's code (native/kvgate_sink_gate.cu) against a float64 reference, run on the CPU by
 * tools/check_sink_gate_host.sh (9 shapes, float32/float16/bfloat16, vector and scalar loads). Needs CUDA's compiler
 * (nvcc), not a GPU; skipped where there is none.
 */
class SinkGateKernelHostCheckTest {
    @Test
    void kernelCodeMatchesTheFloat64Reference() throws IOException, InterruptedException {
        Path nvcc = Path.of(System.getenv().getOrDefault("CUDA_HOME", "/usr/local/cuda"), "bin", "nvcc");
        assumeTrue(Files.isExecutable(nvcc), "no nvcc at " + nvcc);
        Path script = Path.of("..", "tools", "check_sink_gate_host.sh").toAbsolutePath().normalize();
        Process p = new ProcessBuilder("bash", script.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "check_sink_gate_host.sh did not finish");
        assertEquals(0, p.exitValue(), out);
        assertEquals(9, out.lines().filter(l -> l.startsWith("ok ")).count(), out);
    }
}
