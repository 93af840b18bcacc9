package io.kvgate.evaluator;

import io.kvgate.evaluator.policy.Policies;
import io.kvgate.evaluator.policy.Protection;
import io.kvgate.evaluator.runtime.EvictionSettings;
import io.kvgate.evaluator.tasks.Task;
import io.kvgate.evaluator.tasks.TaskGenerator;
import io.kvgate.models.util.Progress;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

class ExploreTest {
    @Test
    void explore() {
        Progress.setEnabled(false);
        Map<String, Integer> suites = new LinkedHashMap<>();
        suites.put(System.getProperty("suite", "passkey"), Integer.getInteger("count", 10));
        List<Task> tasks = TaskGenerator.small(11).generate(suites);
        long t0 = System.nanoTime();
        EvalResults r = Evaluation.on(TinyModel.get(), TinyModel.BYTES)
                .policies(Policies.parse(System.getProperty("policies", "full,kvzip,snapkv,h2o,streaming,random,keynorm"),
                        new Policies.Options(null, Evaluation.tinyKvzip(TinyModel.BYTES), 1)))
                .ratios(List.of(0.1, 0.3, 0.5))
                .settings(EvictionSettings.paper(1).withProtection(Protection.withWindow(Integer.getInteger("window", 8))))
                .run(tasks);
        System.out.println("took " + (System.nanoTime() - t0) / 1e9 + " s");
        System.out.println(ReportWriter.markdown(r));
        if (Boolean.getBoolean("detail")) r.items().forEach(i -> System.out.printf("%s %s %.1f prefill %.1f ms decode %.1f ms/tok%n", i.id(), i.policy(), i.ratio(), i.prefillMillis(), i.decodeMillisPerToken()));
        r.items().stream().filter(i -> i.policy().equals("full") && i.ratio() == 0.3).forEach(i -> System.out.println(i.id() + " " + i.solved() + " [" + i.output() + "]"));
    }
}
