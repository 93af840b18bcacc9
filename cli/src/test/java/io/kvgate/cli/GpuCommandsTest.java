package io.kvgate.cli;

import static io.kvgate.cli.CliRun.run;

import org.junit.jupiter.api.Test;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The commands made for GPU runs, exercised on the CPU: `kvgate parity` (passes within its tolerance, fails when the
 * tolerance is below the real error), `bench device` and `bench profile` (run and print their tables).
 */
class GpuCommandsTest {
    @Test
    void parityPassesWithinToleranceAndFailsBelowTheRealError() {
        String fx = ForwardCommandTest.FIXTURES.resolve("qwen3-tiny-a").toString();
        CliRun ok = run("parity", "--device", "cpu", "--dtype", "float32", fx);
        assertEquals(0, ok.code(), ok.out() + ok.err());
        Matcher m = Pattern.compile("qwen3-tiny-a\\s*\\|\\s*\\S+\\s*\\|\\s*(\\S+)\\s*\\|\\s*(\\S+)\\s*\\|\\s*(\\S+)\\s*\\|\\s*24/24").matcher(ok.out());
        assertTrue(m.find(), ok.out());
        for (int g = 1; g <= 3; g++) assertTrue(Double.parseDouble(m.group(g)) < 1e-4, ok.out());

        CliRun strict = run("parity", "--device", "cpu", "--tolerance", "1e-12", fx);
        assertEquals(1, strict.code(), strict.out() + strict.err());
        assertTrue(strict.out().contains("NO (tol"), strict.out());

        CliRun missing = run("parity", "--device", "cpu", ForwardCommandTest.FIXTURES.toString());
        assertEquals(Main.EXIT_BAD_INPUT, missing.code());
        assertTrue(missing.err().contains("reference.safetensors"), missing.err());
    }

    @Test
    void benchDeviceAndProfileRunOnCpu() {
        CliRun dev = run("bench", "device", "--device", "cpu", "--ops", "50", "--reps", "1", "--matmul", "64");
        assertEquals(0, dev.code(), dev.err());
        assertTrue(dev.out().contains("op issue (host side)") && dev.out().contains("matmul 64³"), dev.out());

        String model = ForwardCommandTest.FIXTURES.resolve("qwen3-tiny-a").toString();
        CliRun prof = run("bench", "profile", "--model", model, "--contexts", "24", "--steps", "2", "--warmup", "1",
                "--prefill-reps", "1", "--profile-steps", "1", "--keep", "0.5");
        assertEquals(0, prof.code(), prof.out() + prof.err());
        assertTrue(prof.out().contains("JNI calls (top-level libtorch ops)"), prof.out());
        assertTrue(prof.out().contains("50%"), prof.out());

        CliRun bad = run("bench", "device", "--device", "cpu", "--dtype", "float16");
        assertEquals(Main.EXIT_BAD_INPUT, bad.code());
    }
}
