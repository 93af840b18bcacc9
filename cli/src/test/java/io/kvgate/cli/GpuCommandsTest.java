package io.kvgate.cli;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The commands made for GPU runs, exercised on the CPU: `kvgate parity` (passes within its tolerance, fails when the
 * tolerance is below the real error), `bench device` and `bench profile` (run and print their tables).
 */
class GpuCommandsTest {
    record Result(int code, String out, String err) {}

    static Result run(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int code = Main.execute(args);
            return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    @Test
    void parityPassesWithinToleranceAndFailsBelowTheRealError() {
        String fx = ForwardCommandTest.FIXTURES.resolve("qwen3-tiny-a").toString();
        Result ok = run("parity", "--device", "cpu", "--dtype", "float32", fx);
        assertEquals(0, ok.code, ok.out + ok.err);
        Matcher m = Pattern.compile("qwen3-tiny-a\\s*\\|\\s*\\S+\\s*\\|\\s*(\\S+)\\s*\\|\\s*(\\S+)\\s*\\|\\s*(\\S+)\\s*\\|\\s*24/24").matcher(ok.out);
        assertTrue(m.find(), ok.out);
        for (int g = 1; g <= 3; g++) assertTrue(Double.parseDouble(m.group(g)) < 1e-4, ok.out);

        Result strict = run("parity", "--device", "cpu", "--tolerance", "1e-12", fx);
        assertEquals(1, strict.code, strict.out + strict.err);
        assertTrue(strict.out.contains("NO (tol"), strict.out);

        Result missing = run("parity", "--device", "cpu", ForwardCommandTest.FIXTURES.toString());
        assertEquals(Main.EXIT_BAD_INPUT, missing.code);
        assertTrue(missing.err.contains("reference.safetensors"), missing.err);
    }

    @Test
    void benchDeviceAndProfileRunOnCpu() {
        Result dev = run("bench", "device", "--device", "cpu", "--ops", "50", "--reps", "1", "--matmul", "64");
        assertEquals(0, dev.code, dev.err);
        assertTrue(dev.out.contains("op issue (host side)") && dev.out.contains("matmul 64³"), dev.out);

        String model = ForwardCommandTest.FIXTURES.resolve("qwen3-tiny-a").toString();
        Result prof = run("bench", "profile", "--model", model, "--contexts", "24", "--steps", "2", "--warmup", "1",
                "--prefill-reps", "1", "--profile-steps", "1", "--keep", "0.5");
        assertEquals(0, prof.code, prof.out + prof.err);
        assertTrue(prof.out.contains("JNI calls (top-level libtorch ops)"), prof.out);
        assertTrue(prof.out.contains("50%"), prof.out);

        Result bad = run("bench", "device", "--device", "cpu", "--dtype", "float16");
        assertEquals(Main.EXIT_BAD_INPUT, bad.code);
    }
}
