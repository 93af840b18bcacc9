package io.kvgate.evaluator;

import io.kvgate.evaluator.policy.Policies;
import io.kvgate.evaluator.policy.Protection;
import io.kvgate.evaluator.runtime.EvictionSettings;
import io.kvgate.evaluator.tasks.Task;
import io.kvgate.evaluator.tasks.TaskGenerator;
import io.kvgate.models.util.Progress;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/** An interrupted evaluation resumes from its journal: finished units are reused, the rest runs again. */
class EvaluationResumeTest {
    @TempDir
    Path dir;

    private Evaluation evaluation(Path journal) {
        return Evaluation.on(TinyModel.get(), TinyModel.BYTES)
                .policies(Policies.parse("full,streaming", new Policies.Options(null, null, 1)))
                .ratios(List.of(0.3))
                .settings(EvictionSettings.paper(1).withProtection(Protection.withWindow(8)))
                .resumable(journal);
    }

    @Test
    void resumesFromTheFinishedUnits() throws Exception {
        Progress.setEnabled(false);
        List<Task> tasks = TaskGenerator.small(5).generate(Map.of("passkey", 1));
        Path journal = dir.resolve("journal.jsonl");
        EvalResults first = evaluation(journal).run(tasks);
        List<String> lines = Files.readAllLines(journal);
        assertEquals(2, lines.size(), "one line per finished unit (full, streaming@0.3)");

        // Interrupted while writing the second unit: its line is torn.
        Files.writeString(journal, lines.get(0) + "\n" + lines.get(1).substring(0, lines.get(1).length() / 2));
        Evaluation again = evaluation(journal);
        assertEquals(1, again.resumedUnits());
        EvalResults second = again.run(tasks);
        ItemResult fullBefore = first.items().stream().filter(i -> i.policy().equals("full")).findFirst().orElseThrow();
        ItemResult fullAfter = second.items().stream().filter(i -> i.policy().equals("full")).findFirst().orElseThrow();
        assertEquals(fullBefore, fullAfter, "the finished unit is reused as recorded (timings included), not recomputed");
        ItemResult sBefore = first.items().stream().filter(i -> i.policy().equals("streaming")).findFirst().orElseThrow();
        ItemResult sAfter = second.items().stream().filter(i -> i.policy().equals("streaming")).findFirst().orElseThrow();
        assertEquals(sBefore.output(), sAfter.output(), "the torn unit ran again with the same outcome");
        assertEquals(sBefore.kvBytes(), sAfter.kvBytes());
        assertEquals(first.rows().size(), second.rows().size());
        again.finish();
        assertFalse(Files.exists(journal));
    }
}
