package io.kvgate.cli;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** `kvgate bench forward` runs end to end and its cached and recompute paths agree (no timing asserted). */
class BenchForwardCommandTest {
    @Test
    void printsATableWhoseBaselineAgrees() {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        int code;
        try {
            code = Main.execute("bench", "forward", "--model", ForwardCommandTest.FIXTURES.resolve("gemma3-tiny-a").toString(),
                    "--context", "12,30", "--decode", "6", "--chunk", "5", "--baseline-decode", "6");
        } finally {
            System.setOut(old);
        }
        String out = buf.toString(StandardCharsets.UTF_8);
        assertEquals(0, code, out);
        String[] rows = out.lines().filter(l -> l.startsWith("| 12 ") || l.startsWith("| 30 ")).toArray(String[]::new);
        assertEquals(2, rows.length, out);
        for (String r : rows) assertTrue(r.contains("| yes "), "cached and recomputed greedy tokens differ: " + r);
    }

    @Test
    void contextBeyondTheModelLimitIsABadInput() {
        CliRun r = CliRun.run("bench", "forward", "--model",
                ForwardCommandTest.FIXTURES.resolve("qwen3-tiny-a").toString(), "--context", "100000");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("--context 100000"), r.err());
    }
}
