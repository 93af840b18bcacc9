package io.kvgate.evaluator;

import ai.djl.ndarray.NDManager;
import io.kvgate.evaluator.policy.Policies;
import io.kvgate.evaluator.policy.Policy;
import io.kvgate.evaluator.policy.Protection;
import io.kvgate.evaluator.runtime.CompressedContext;
import io.kvgate.evaluator.runtime.DecodeBudget;
import io.kvgate.evaluator.runtime.EvictionSettings;
import io.kvgate.evaluator.runtime.Generation;
import io.kvgate.evaluator.tasks.Filler;
import io.kvgate.evaluator.tasks.Task;
import io.kvgate.evaluator.tasks.TaskGenerator;
import io.kvgate.models.ForwardOptions;
import io.kvgate.models.KvCache;
import io.kvgate.models.Model;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Decoding past the budget: a repeat task whose answer is as long as its context, at a moderate ratio, with a
 * decode budget smaller than context + answer. The cache must stay within budget + 128 entries per head and
 * the repeat must stay exact.
 */
class DecodeEvictionTest {
    @Test
    void generationPastTheBudgetStaysWithinBudgetAndCorrect() {
        Model model = TinyModel.get();
        Task task = repeatTheModelSolves(model);
        int[] ctx = TinyModel.BYTES.encode(task.context());
        int[] query = TinyModel.BYTES.encode(task.query());
        int budget = 300; // tokens per head; context ≈ 290 + query 30 + answer ≈ 290 go well past it
        EvictionSettings settings = EvictionSettings.paper(0.5).withProtection(Protection.withWindow(8))
                .withDecodeBudget(DecodeBudget.tokensPerHead(budget));
        Policy kvzip = Policies.create("kvzip", new Policies.Options(null, Evaluation.tinyKvzip(TinyModel.BYTES), 1));
        try (CompressedContext cc = CompressedContext.prefill(model, kvzip, settings, ctx)) {
            assertEquals(0.5 * ctx.length, cc.entriesPerHead(), 1.0, "prefill keeps half the context");
            int answerTokens = TinyModel.BYTES.encode(task.answer()).length;
            Generation g = cc.generate(query, answerTokens + 8);
            String out = TinyModel.BYTES.decode(g.ids());
            assertTrue(ctx.length + query.length + g.ids().length > budget + 128, "generation must run past the budget");
            assertTrue(g.decodeEvictions() >= 1, "decode-time eviction ran");
            assertTrue(g.peakEntriesPerHead() <= budget + 128, "peak " + g.peakEntriesPerHead() + " entries per head");
            assertEquals(task.answer(), out.substring(0, Math.min(out.length(), task.answer().length())), "repeat stays exact");
        }
    }

    /**
     * A long repeat context that the full model reproduces exactly: every teacher-forced greedy prediction of
     * the answer is right (so greedy decoding with the full cache repeats it exactly).
     */
    static Task repeatTheModelSolves(Model model) {
        TaskGenerator gen = new TaskGenerator(5, Filler.bundled(), new int[] {100, 600}, new int[] {4, 16}, new int[] {250, 340});
        for (Task t : gen.generate(Map.of("repeat", 12))) {
            int[] prefix = io.kvgate.models.util.IntArrays.concat(TinyModel.BYTES.encode(t.context()), TinyModel.BYTES.encode(t.query()));
            int[] answer = TinyModel.BYTES.encode(t.answer());
            try (NDManager scope = model.manager().newSubManager(); KvCache cache = model.newCache()) {
                long[] pred = model.forward(scope, cache, io.kvgate.models.util.IntArrays.concat(prefix, answer),
                        ForwardOptions.defaults().withLogits(ForwardOptions.Logits.ALL)).logits().argMax(1).toLongArray();
                boolean exact = true;
                for (int i = 0; i < answer.length && exact; i++) exact = pred[prefix.length - 1 + i] == answer[i];
                if (exact) return t;
            }
        }
        throw new AssertionError("no generated repeat context is reproduced exactly by the full model");
    }
}
