package io.kvgate.evaluator;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import io.kvgate.evaluator.policy.GateScorer;
import io.kvgate.evaluator.policy.LayerGates;
import io.kvgate.evaluator.policy.Policies;
import io.kvgate.evaluator.policy.Policy;
import io.kvgate.evaluator.policy.Protection;
import io.kvgate.evaluator.policy.ScoreSession;
import io.kvgate.evaluator.policy.SequenceInfo;
import io.kvgate.evaluator.policy.Stage;
import io.kvgate.evaluator.runtime.CompressedContext;
import io.kvgate.evaluator.runtime.EvictionSettings;
import io.kvgate.evaluator.runtime.Generation;
import io.kvgate.evaluator.tasks.Task;
import io.kvgate.evaluator.tasks.TaskGenerator;
import io.kvgate.models.ForwardObserver;
import io.kvgate.models.ForwardOptions;
import io.kvgate.models.KvCache;
import io.kvgate.models.KvgateException;
import io.kvgate.models.Model;
import io.kvgate.models.util.Progress;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The runtime with a gate-shaped scorer (a fixed random projection of the attention input stands in for a
 * fitted gate): chunked prefill scores each chunk as it is produced and evicts after every chunk; decoding
 * buffers new tokens and scores them once per 128; memory is really freed; queries sharing a context are
 * isolated from each other.
 */
class GatedRuntimeTest {
    /** sigmoid(x · W) per KV head, recording the batch sizes it is called with. */
    static final class ProjectionGates implements LayerGates {
        final List<int[]> calls = new ArrayList<>(); // {layer, T}
        private final NDManager manager;
        private final NDArray w;

        ProjectionGates(Model model) {
            manager = model.manager().newSubManager();
            ai.djl.engine.Engine.getEngine("PyTorch").setRandomSeed(3);
            w = manager.randomNormal(new Shape(model.config().hiddenSize(), model.config().numKvHeads()));
        }

        @Override
        public int[] layers() {
            return new int[] {0, 1, 2, 3, 4, 5};
        }

        @Override
        public NDArray score(int layer, NDArray x) {
            calls.add(new int[] {layer, (int) x.getShape().get(0)});
            return Activation.sigmoid(x.toType(DataType.FLOAT32, false).matMul(w)).transpose();
        }

        List<Integer> batches(int layer) {
            return calls.stream().filter(c -> c[0] == layer).map(c -> c[1]).toList();
        }
    }

    private static Model model;
    private static ProjectionGates gates;
    private static int[] context;

    @BeforeAll
    static void setUp() {
        Progress.setEnabled(false);
        model = TinyModel.get();
        gates = new ProjectionGates(model);
        context = TinyModel.kvContext();
    }

    @AfterAll
    static void tearDown() {
        gates.manager.close();
    }

    /**
     * These tests pin down Model's own layer-by-layer path (its batching of scores, bit-equal inputs); with a fused module
     * configured (KVGATE_FUSED_ATTENTION, a GPU shell) one-token steps go through decode_step instead, which hands the
     * scorer the same inputs in other batches and other float rounding.
     */
    private static void assumeModelsOwnPath() {
        org.junit.jupiter.api.Assumptions.assumeTrue(System.getenv("KVGATE_FUSED_ATTENTION") == null, "a fused module is configured");
    }

    @Test
    void chunkedPrefillScoresEachChunkAndKeepsTheBudget() {
        gates.calls.clear();
        EvictionSettings s = EvictionSettings.paper(0.3).withProtection(Protection.withWindow(8)).withPrefillChunk(64);
        long fullBytes;
        try (CompressedContext full = CompressedContext.prefill(model, Policy.full(), s.withRatio(1), context)) {
            fullBytes = full.bytes();
        }
        Policy gate = Policy.of(new GateScorer(gates), io.kvgate.evaluator.policy.Budget.GLOBAL);
        try (CompressedContext cc = CompressedContext.prefill(model, gate, s, context)) {
            int n = context.length;
            List<Integer> expected = new ArrayList<>();
            for (int from = 0; from < n; from += 64) expected.add(Math.min(64, n - from));
            assertEquals(expected, gates.batches(0), "one gate call per prefill chunk, as it is produced");
            assertEquals(0.3 * n, cc.entriesPerHead(), 1.0);
            KvCache cache = cc.cache();
            long nonUniform = 0;
            for (int l = 0; l < cache.numLayers(); l++)
                for (int h = 0; h < cache.numKvHeads(); h++) {
                    int[] pos = cache.positions(l, h);
                    assertArrayEquals(new int[] {0, 1, 2, 3}, Arrays.copyOf(pos, 4), "sinks kept");
                    for (int p = n - 8; p < n; p++) assertTrue(Arrays.binarySearch(pos, p) >= 0, "window kept: " + p);
                    if (Math.abs(pos.length - 0.3 * n) > 2) nonUniform++;
                }
            assertTrue(nonUniform > 0, "one global threshold gives heads different sizes");
            assertTrue(cc.bytes() <= 0.35 * fullBytes, cc.bytes() + " bytes held vs " + fullBytes + " full");
            assertEquals(fullBytes, cc.bytesBeforeEviction() + (fullBytes - cc.bytesBeforeEviction()));
            assertTrue(cc.bytesBeforeEviction() < fullBytes, "earlier chunks were already evicted before the last one");
        }
    }

    @Test
    void decodingScoresNewTokensOncePer128AndStaysWithinBudget() {
        assumeModelsOwnPath();
        // Decode budget = the ratio of the context (the default): B = 0.5 n entries per head.
        EvictionSettings s = EvictionSettings.paper(0.5).withProtection(Protection.withWindow(8));
        Policy gate = Policy.of(new GateScorer(gates), io.kvgate.evaluator.policy.Budget.GLOBAL);
        try (CompressedContext cc = CompressedContext.prefill(model, gate, s, context)) {
            gates.calls.clear();
            int[] repeat = TinyModel.BYTES.encode("\nRepeat the previous context:\n"); // 30 tokens, then a long answer
            Generation g = cc.generate(repeat, 300);
            assertTrue(g.ids().length >= 230, "generated " + g.ids().length);
            assertEquals(List.of(128, 128), gates.batches(0), "new tokens scored in buffered batches of 128");
            assertTrue(g.decodeEvictions() >= 2);
            assertEquals(0.5 * context.length, g.budgetPerHead(), 1e-9);
            assertTrue(g.peakEntriesPerHead() <= g.budgetPerHead() + 128, "peak " + g.peakEntriesPerHead() + " vs budget " + g.budgetPerHead());
            assertTrue(g.peakEntriesPerHead() > g.budgetPerHead() + 100, "the run did go past the budget");
            assertTrue(cc.entriesPerHead() <= g.budgetPerHead() + 1, "the shared context cache is untouched");
        }
    }

    /**
     * A decode step run as one CUDA graph (GPU, DecodeGraph) hands the gate scorer every layer's attention input at
     * once; the scores must be those of the layer-by-layer path. Checked here on the CPU by handing over the same
     * inputs, stacked, as DecodeGraph does.
     */
    @Test
    void decodeStepsHandedOverAllLayersAtOnceScoreAsLayerByLayer() {
        assumeModelsOwnPath();
        GateScorer scorer = new GateScorer(gates);
        SequenceInfo seq = new SequenceInfo(model, context, 0);
        ForwardOptions plainStep = ForwardOptions.defaults();
        try (NDManager scope = model.manager().newSubManager(); KvCache a = model.newCache(); KvCache b = model.newCache();
             ScoreSession layerByLayer = scorer.start(seq); ScoreSession allAtOnce = scorer.start(seq)) {
            model.forward(scope, a, context, plainStep.withObserver(layerByLayer.observer(a)));
            model.forward(scope, b, context, plainStep.withObserver(allAtOnce.observer(b)));
            layerByLayer.contextDone(a);
            allAtOnce.contextDone(b);
            for (int id : new int[] {65, 66, 10, 67}) {
                model.forward(scope, a, new int[] {id}, plainStep.withObserver(layerByLayer.observer(a)));
                List<NDArray> inputs = new ArrayList<>();
                ForwardObserver recorder = new ForwardObserver() {
                    @Override
                    public void attentionInput(int layer, NDArray x, int[] positions) {
                        NDArray copy = x.duplicate();
                        copy.attach(scope);
                        inputs.add(copy);
                    }
                };
                int position = b.nextPosition();
                model.forward(scope, b, new int[] {id}, plainStep.withObserver(recorder));
                ForwardObserver observer = allAtOnce.observer(b);
                assertTrue(observer.attentionInputsOnly(), "the gate scorer lets decode steps run as one graph");
                observer.attentionInputs(NDArrays.stack(new NDList(inputs)), new int[] {position}); // [L, 1, hidden]
            }
            float[][][] want = layerByLayer.scores(a, Stage.DECODE), got = allAtOnce.scores(b, Stage.DECODE);
            for (int l = 0; l < want.length; l++)
                for (int h = 0; h < want[l].length; h++) {
                    assertEquals(context.length + 4, want[l][h].length);
                    assertArrayEquals(want[l][h], got[l][h], 1e-6f, "layer " + l + " head " + h);
                }
        }
    }

    @Test
    void queriesSharingAContextDoNotSeeEachOther() {
        Policy keynorm = Policies.create("keynorm", new Policies.Options(null, null, 1));
        EvictionSettings s = EvictionSettings.paper(0.5).withProtection(Protection.withWindow(8));
        int[] q1 = TinyModel.BYTES.encode("\nQ: abc? A:");
        int[] q2 = TinyModel.BYTES.encode("\nRepeat the previous context:\n");
        int[] alone;
        try (CompressedContext cc = CompressedContext.prefill(model, keynorm, s, context)) {
            alone = cc.generate(q2, 24).ids();
        }
        try (CompressedContext cc = CompressedContext.prefill(model, keynorm, s, context)) {
            long entries = cc.cache().totalEntries();
            cc.generate(q1, 24);
            assertEquals(entries, cc.cache().totalEntries(), "answering works on a copy");
            assertArrayEquals(alone, cc.generate(q2, 24).ids());
        }
    }

    @Test
    void badInputIsRefusedClearly() {
        KvgateException e = assertThrows(KvgateException.class, () -> EvictionSettings.paper(1.5));
        assertTrue(e.getMessage().contains("outside (0,1]"), e.getMessage());
        assertThrows(KvgateException.class, () -> Evaluation.on(model, TinyModel.BYTES).ratios(List.of(0.0)));
        int[] tooLong = new int[model.config().maxPositions() + 1];
        e = assertThrows(KvgateException.class, () -> CompressedContext.prefill(model, Policy.full(), EvictionSettings.paper(1), tooLong));
        assertTrue(e.getMessage().contains("exceeds the model's limit of 2048"), e.getMessage());
        // In a task list, an over-long context is skipped with a message and the rest is still evaluated.
        Task ok = TaskGenerator.small(1).generate(Map.of("passkey", 1)).get(0);
        Task big = new Task("big", "passkey", "<|im_start|>" + "x".repeat(2100) + "<|im_end|>", ok.query(), ok.answer(), 4);
        EvalResults r = Evaluation.on(model, TinyModel.BYTES).run(List.of(big, ok));
        assertEquals(1, r.items().size());
        assertEquals(1, r.problems().size());
        assertTrue(r.problems().get(0).startsWith("line 4 (big): context of 2102 tokens"), r.problems().get(0));
    }
}
