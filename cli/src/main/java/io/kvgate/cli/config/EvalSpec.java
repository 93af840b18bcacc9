package io.kvgate.cli.config;

import io.kvgate.evaluator.policy.Budget;
import io.kvgate.evaluator.policy.Policies;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code eval:} the sweep run on the fitted gates and the baselines.
 *
 * @param tasks        what to evaluate on
 * @param ratios       KV ratios kept, each in (0, 1]
 * @param policies     eviction policies compared ("gate" = every fitted gate type)
 * @param budget       how the kept budget is spread: global (one threshold over layers × heads), per-layer, per-head
 * @param window       recent tokens never evicted during prefill
 * @param decodeBudget tokens per KV head kept while decoding (null: the prefill ratio of the context)
 * @param kvzipChunk   the KVzip oracle's reconstruction chunk (null: the model's, {@code RepeatPrompts.defaultChunk})
 */
public record EvalSpec(TasksSpec tasks, List<Double> ratios, List<String> policies, String budget, WindowSpec window,
                       Integer decodeBudget, Integer kvzipChunk) {
    static final List<String> KEYS = List.of("tasks", "ratios", "policies", "budget", "window", "decode_budget", "kvzip_chunk");
    public static final List<String> POLICIES = Policies.NAMES;
    public static final List<String> BUDGETS = Arrays.stream(Budget.values()).map(Budget::id).toList();

    static EvalSpec read(Section s) {
        TasksSpec tasks = TasksSpec.read(s.section("tasks", TasksSpec.KEYS));
        List<Double> ratios = s.numbers("ratios", List.of(0.1, 0.2, 0.3, 0.5), Range.RATIO);
        List<String> policies = s.choices("policies", List.of("full", "gate", "kvzip", "snapkv", "streaming", "random"),
                POLICIES);
        String budget = s.choice("budget", "global", BUDGETS);
        WindowSpec window = WindowSpec.read(s, "window", WindowSpec.PAPER_RULE);
        Integer decodeBudget = s.optionalInteger("decode_budget", Range.atLeast(1));
        Integer kvzipChunk = s.optionalInteger("kvzip_chunk", Range.atLeast(16));
        return new EvalSpec(tasks, ratios, policies, budget, window, decodeBudget, kvzipChunk);
    }

    Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("tasks", tasks.toMap());
        m.put("ratios", ratios);
        m.put("policies", policies);
        m.put("budget", budget);
        m.put("window", window.toString());
        m.put("decode_budget", decodeBudget);
        m.put("kvzip_chunk", kvzipChunk);
        return m;
    }
}
