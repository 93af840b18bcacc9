package io.kvgate.cli;

import static io.kvgate.cli.CliRun.run;

import io.kvgate.models.SafetensorsFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `kvgate forward` against a transformers reference, and its bad-input exits. */
class ForwardCommandTest {
    /** The parity fixtures live with the models module's tests (one copy in the repo). */
    static final Path FIXTURES = Path.of("../models/src/test/resources/parity");

    @TempDir
    Path tmp;

    @Test
    void writesLogitsAndHiddenMatchingTheReference() {
        for (String fx : new String[] {"gemma3-tiny-a", "qwen2-tiny-a"}) {
            Path dir = FIXTURES.resolve(fx), out = tmp.resolve(fx + ".safetensors");
            try (SafetensorsFile ref = SafetensorsFile.open(dir.resolve("reference.safetensors"))) {
                String ids = Arrays.stream(ref.readLongs("input_ids")).mapToObj(Long::toString).collect(Collectors.joining(","));
                for (String chunk : new String[] {null, "7"}) {
                    CliRun r = chunk == null ? run("forward", "--model", dir.toString(), "--ids", ids, "--out", out.toString())
                            : run("forward", "--model", dir.toString(), "--ids", ids, "--out", out.toString(), "--chunk", chunk);
                    assertEquals(0, r.code(), r.err());
                    try (SafetensorsFile got = SafetensorsFile.open(out)) {
                        assertEquals(SafetensorsFile.Dtype.F32, got.info("logits").dtype());
                        assertEquals(Arrays.toString(ref.info("logits").shape()), Arrays.toString(got.info("logits").shape()));
                        assertEquals(Arrays.toString(ref.info("hidden_last").shape()), Arrays.toString(got.info("hidden_last").shape()));
                        assertTrue(relErr(got.readFloats("logits"), ref.readFloats("logits")) < 1e-4, fx + " logits");
                        assertTrue(relErr(got.readFloats("hidden_last"), ref.readFloats("hidden_last")) < 1e-4, fx + " hidden_last");
                    }
                }
            }
        }
    }

    @Test
    void badInputExitsTwoWithOneLine() throws Exception {
        Path good = FIXTURES.resolve("qwen3-tiny-a"), out = tmp.resolve("o.safetensors");
        Path truncated = tmp.resolve("truncated");
        Files.createDirectories(truncated);
        Files.copy(good.resolve("config.json"), truncated.resolve("config.json"));
        byte[] w = Files.readAllBytes(good.resolve("model.safetensors"));
        Files.write(truncated.resolve("model.safetensors"), Arrays.copyOf(w, w.length / 2));
        String[][] cases = {
                {"forward", "--model", tmp.resolve("nope").toString(), "--ids", "1,2", "--out", out.toString()},
                {"forward", "--model", good.toString(), "--ids", "1,x,3", "--out", out.toString()},
                {"forward", "--model", good.toString(), "--ids", "1,99999", "--out", out.toString()},
                {"forward", "--model", good.toString(), "--ids", "1,2", "--out", out.toString(), "--chunk", "0"},
                {"forward", "--model", truncated.toString(), "--ids", "1,2", "--out", out.toString()},
                {"forward", "--model", good.toString(), "--out", out.toString()},
        };
        String[] expect = {"does not exist", "'x' is not a token id", "99999", "--chunk", "truncated", "--ids"};
        for (int i = 0; i < cases.length; i++) {
            CliRun r = run(cases[i]);
            assertEquals(2, r.code(), Arrays.toString(cases[i]) + " -> " + r.err());
            assertTrue(r.err().startsWith("kvgate: error: ") && r.err().contains(expect[i]), r.err());
            assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
        }
        assertFalse(Files.exists(out), "nothing written on bad input");
    }

    static double relErr(float[] a, float[] b) {
        double n = 0, d = 0;
        for (int i = 0; i < a.length; i++) {
            n += (a[i] - b[i]) * (double) (a[i] - b[i]);
            d += b[i] * (double) b[i];
        }
        return Math.sqrt(n / d);
    }
}
