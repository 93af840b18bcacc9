package io.kvgate.cli;

import io.kvgate.evaluator.tasks.Task;
import io.kvgate.evaluator.tasks.TaskFile;
import io.kvgate.evaluator.tasks.TaskGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static io.kvgate.cli.GenerateCommandTest.TINY;
import static io.kvgate.cli.GenerateCommandTest.assertBadInput;
import static io.kvgate.cli.CliRun.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code kvgate eval} end to end on the tiny model (a few tasks), and its bad-input errors. */
class EvalCommandTest {
    @TempDir
    Path dir;

    @Test
    void evaluatesGoodLinesAndReportsTheBadOnes() throws Exception {
        List<String> lines = new ArrayList<>(List.of(TaskFile.toJsonl(TaskGenerator.small(3).generate(Map.of("passkey", 2))).split("\n")));
        lines.add(1, "{\"id\": \"broken\", ");
        Task ok = TaskGenerator.small(3).generate(Map.of("passkey", 1)).get(0);
        lines.add(TaskFile.toJsonl(List.of(new Task("long", "passkey", "<|im_start|>" + "x".repeat(2100) + "<|im_end|>",
                ok.query(), ok.answer(), 0))).strip());
        Path tasks = dir.resolve("tasks.jsonl");
        Files.writeString(tasks, String.join("\n", lines) + "\n");
        Path out = dir.resolve("out");
        CliRun r = run("--quiet", "eval", "--model", TINY, "--tasks", tasks.toString(), "--ratios", "0.3",
                "--policies", "full,kvzip,streaming", "--window", "8", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("kvgate: warning: " + tasks + ":2: not valid JSON"), r.err());
        assertTrue(r.err().contains("line 4 (long): context of 2102 tokens"), r.err());
        for (String f : List.of("results.csv", "results.json", "report.md", "accuracy.png")) assertTrue(Files.isRegularFile(out.resolve(f)), f);
        List<String> csv = Files.readAllLines(out.resolve("results.csv"));
        assertEquals(4, csv.size(), String.join("\n", csv));
        assertTrue(csv.stream().anyMatch(l -> l.startsWith("passkey,full,0.3,2,1,")), String.join("\n", csv));
        assertTrue(csv.stream().anyMatch(l -> l.startsWith("passkey,kvzip,0.3,2,1,")), String.join("\n", csv));
        assertTrue(Files.readString(out.resolve("report.md")).contains("not valid JSON"));
    }

    @Test
    void kvzipPooledIsReportedUnderItsOwnName() throws Exception {
        Path out = dir.resolve("pooled");
        CliRun r = run("--quiet", "eval", "--model", TINY, "--generate", "passkey:1", "--ratios", "0.3",
                "--policies", "kvzip-pooled,kvzip-pooled/per-head", "--window", "8", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        List<String> csv = Files.readAllLines(out.resolve("results.csv"));
        assertTrue(csv.stream().anyMatch(l -> l.startsWith("passkey,kvzip-pooled,0.3,1,")), String.join("\n", csv));
        assertTrue(csv.stream().anyMatch(l -> l.startsWith("passkey,kvzip-pooled/per-head,0.3,1,")), String.join("\n", csv));
    }

    @Test
    void badInputGetsOneClearLine() throws Exception {
        String out = dir.resolve("o").toString();
        assertBadInput(run("eval", "--model", TINY, "--generate", "passkey:1", "--ratios", "0.3,1.5", "--out", out),
                "ratio 1.5 is outside (0,1]");
        assertBadInput(run("eval", "--model", TINY, "--generate", "passkey:1", "--ratios", "0", "--out", out),
                "ratio 0.0 is outside (0,1]");
        Path bad = dir.resolve("bad.jsonl");
        Files.writeString(bad, "{oops\n[]\n");
        assertBadInput(run("eval", "--model", TINY, "--tasks", bad.toString(), "--out", out), "holds no valid task");
        assertBadInput(run("eval", "--model", TINY, "--generate", "needle:3", "--out", out), "unknown suite 'needle'");
        assertBadInput(run("eval", "--model", TINY, "--generate", "passkey:1", "--policies", "full,magic", "--out", out),
                "unknown policy 'magic'");
        assertBadInput(run("eval", "--model", TINY, "--generate", "passkey:1", "--policies", "gate", "--out", out),
                "policy 'gate' needs a gates artifact");
        assertBadInput(run("eval", "--model", TINY, "--generate", "passkey:1", "--gates", "src/test/resources/artifacts/other-model",
                "--out", out), "gate artifact was fitted for model fp");
        assertTrue(Files.notExists(Path.of(out)), "nothing written on bad input");
    }
}
