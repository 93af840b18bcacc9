package io.kvgate.evaluator;

import io.kvgate.evaluator.policy.Policies;
import io.kvgate.evaluator.policy.Protection;
import io.kvgate.evaluator.runtime.EvictionSettings;
import io.kvgate.evaluator.tasks.Task;
import io.kvgate.evaluator.tasks.TaskGenerator;
import io.kvgate.models.util.Progress;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The tiny retrieval model on generated passkey and key-value suites at 30 % KV kept: the full cache solves
 * them, KVzip's oracle scores keep that accuracy, and uninformed policies lose it (the tasks discriminate);
 * the memory held really shrinks.
 */
class EvictionQualityTest {
    private static EvalResults results;

    @BeforeAll
    static void evaluate() {
        Progress.setEnabled(false);
        Map<String, Integer> suites = new LinkedHashMap<>();
        suites.put("passkey", 5);
        suites.put("kv", 5);
        List<Task> tasks = TaskGenerator.small(2026).generate(suites);
        results = Evaluation.on(TinyModel.get(), TinyModel.BYTES)
                .policies(Policies.parse("full,kvzip,snapkv,streaming,random",
                        new Policies.Options(null, Evaluation.tinyKvzip(TinyModel.BYTES), 7)))
                .ratios(List.of(0.3))
                .settings(EvictionSettings.paper(1).withProtection(Protection.withWindow(8)))
                .run(tasks);
        System.out.println(ReportWriter.markdown(results));
    }

    private static double accuracy(String task, String policy) {
        return results.row(task, policy, 0.3).orElseThrow().accuracy();
    }

    @Test
    void fullCacheSolvesPasskeyAndKeyValue() {
        assertTrue(accuracy("passkey", "full") >= 0.95, "passkey full " + accuracy("passkey", "full"));
        assertTrue(accuracy("kv", "full") >= 0.95, "kv full " + accuracy("kv", "full"));
    }

    @Test
    void kvzipAtThirtyPercentStaysWithinFivePointsOfFull() {
        for (String task : List.of("passkey", "kv"))
            assertTrue(accuracy(task, "kvzip") >= accuracy(task, "full") - 0.05, task + " kvzip " + accuracy(task, "kvzip"));
    }

    @Test
    void uninformedPoliciesAreClearlyBelow() {
        for (String policy : List.of("snapkv", "streaming", "random")) {
            double mean = (accuracy("passkey", policy) + accuracy("kv", policy)) / 2;
            double full = (accuracy("passkey", "full") + accuracy("kv", "full")) / 2;
            assertTrue(mean <= full - 0.4, policy + " mean accuracy " + mean + " vs full " + full);
        }
    }

    @Test
    void kvBytesAtThirtyPercentAreAtMost35PercentOfFull() {
        for (ResultRow r : results.rows()) {
            if (r.policy().equals("full")) continue;
            assertTrue(r.kvFraction() <= 0.35, r.task() + "/" + r.policy() + " holds " + r.kvFraction() + " of the full cache's bytes");
            assertTrue(r.kvFraction() >= 0.2, r.task() + "/" + r.policy() + " evicted more than asked: " + r.kvFraction());
        }
    }

    @Test
    void klIsZeroForFullAndGrowsWhenAccuracyDrops() {
        assertTrue(results.row("kv", "full", 0.3).orElseThrow().kl() < 1e-6);
        assertTrue(results.row("kv", "random", 0.3).orElseThrow().kl() > 10 * results.row("kv", "kvzip", 0.3).orElseThrow().kl());
    }
}
