package io.kvgate.evaluator.policy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import io.kvgate.evaluator.Evaluation;
import io.kvgate.evaluator.TinyModel;
import io.kvgate.evaluator.runtime.CompressedContext;
import io.kvgate.evaluator.runtime.EvictionSettings;
import io.kvgate.evaluator.runtime.Generation;
import io.kvgate.models.ForwardObserver;
import io.kvgate.models.KvCache;
import io.kvgate.models.Model;
import io.kvgate.models.util.Progress;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Scores stay on the device until an eviction needs them. The fingerprints below (kept context positions, then
 * per query: generated ids, decode evictions, final bytes) were recorded with the code that read every score
 * back at every chunk that evicted, at the end of the context and every decode interval; deferring the reads
 * must not change a single id or kept position, for any policy.
 */
class DeferredScoreReadsTest {
    private static final int[] QUERY_A = TinyModel.BYTES.encode("\nRepeat the previous context:\n");
    private static final int[] QUERY_B = TinyModel.BYTES.encode("\nQ: abc? A:");

    /** Recorded before scores were deferred (commit bb149c2), on the CPU. */
    private static final Map<String, String> RECORDED = new LinkedHashMap<>();

    static {
        RECORDED.put("gate r=0.5 every 128", "3162 kept 21a82e30 | 127 ids 3369c10e, 1 evictions, 967296 bytes | 164 ids a542384b, 1 evictions, 1053360 bytes");
        RECORDED.put("kvzip r=0.5 every 128", "3162 kept 9439ae97 | 300 ids 84eb11cc, 2 evictions, 1138896 bytes | 131 ids dd6fedb1, 1 evictions, 937200 bytes");
        RECORDED.put("kvzip-pooled r=0.5 every 128", "3162 kept 9a93e294 | 133 ids ff914b09, 1 evictions, 998448 bytes | 131 ids dd6fedb1, 1 evictions, 938256 bytes");
        RECORDED.put("snapkv r=0.5 every 128", "3162 kept a2de4032 | 131 ids 56959d2c, 1 evictions, 1021680 bytes | 136 ids 72f61f8f, 1 evictions, 937728 bytes");
        RECORDED.put("h2o r=0.5 every 128", "3162 kept 7f34be13 | 300 ids f518d428, 2 evictions, 1112496 bytes | 200 ids 5b7da7d5, 1 evictions, 1183248 bytes");
        RECORDED.put("streaming r=0.5 every 128", "3162 kept d4a05c21 | 103 ids 98316df, 1 evictions, 1618944 bytes | 150 ids a0a1ba5f, 1 evictions, 1618944 bytes");
        RECORDED.put("random r=0.5 every 128", "3162 kept a8d0b7e1 | 300 ids f7e8c801, 2 evictions, 1183776 bytes | 157 ids 212bbbe7, 1 evictions, 1053360 bytes");
        RECORDED.put("keynorm r=0.5 every 128", "3162 kept 9bf23142 | 110 ids 4acacc18, 1 evictions, 937728 bytes | 200 ids 1e9a5ca0, 1 evictions, 1171104 bytes");
        RECORDED.put("gate r=1 every 128", "6324 kept 114c0b01 | 244 ids 7ebbbea4, 2 evictions, 1877040 bytes | 150 ids 2a4d5110, 1 evictions, 1876512 bytes");
        RECORDED.put("gate r=1 every 32", "6324 kept 114c0b01 | 300 ids a7106b46, 10 evictions, 1876512 bytes | 200 ids 909d76f1, 6 evictions, 1877040 bytes");
        RECORDED.put("gate r=0.3 every 32", "1897 kept 991276ab | 108 ids eae42230, 4 evictions, 565224 bytes | 200 ids 64d25cae, 6 evictions, 602184 bytes");
        RECORDED.put("h2o r=1 every 32", "6324 kept 114c0b01 | 300 ids 5fc21814, 10 evictions, 1876512 bytes | 167 ids e6e992ea, 5 evictions, 1876512 bytes");
    }

    private static Model model;
    private static FixedGates gates;
    private static int[] context;

    /** sigmoid(x · W) per KV head with a fixed W (no RNG), so the scores are the same on every machine. */
    static final class FixedGates implements LayerGates {
        private final NDManager manager;
        private final NDArray w;

        FixedGates(Model model) {
            int d = model.config().hiddenSize(), heads = model.config().numKvHeads();
            float[] values = new float[d * heads];
            for (int i = 0; i < values.length; i++) values[i] = (float) Math.sin(0.37 * i + 1.3);
            manager = model.manager().newSubManager();
            w = manager.create(values, new Shape(d, heads));
        }

        @Override
        public int[] layers() {
            int[] all = new int[model.config().numLayers()];
            Arrays.setAll(all, i -> i);
            return all;
        }

        @Override
        public NDArray score(int layer, NDArray x) {
            return Activation.sigmoid(x.toType(DataType.FLOAT32, false).matMul(w)).transpose();
        }
    }

    @BeforeAll
    static void setUp() {
        Progress.setEnabled(false);
        model = TinyModel.get();
        gates = new FixedGates(model);
        context = TinyModel.kvContext();
    }

    @AfterAll
    static void tearDown() {
        gates.manager.close();
    }

    @Test
    void everyPolicyDecodesAsBeforeWithScoresDeferred() {
        Policies.Options options = new Policies.Options(gates, Evaluation.tinyKvzip(TinyModel.BYTES), 1);
        Map<String, String> got = new LinkedHashMap<>();
        for (String name : Policies.NAMES) {
            if (name.equals("full")) continue;
            got.put(name + " r=0.5 every 128", run(Policies.create(name, options), 0.5, 128));
        }
        Policy gate = Policies.create("gate", options);
        got.put("gate r=1 every 128", run(gate, 1.0, 128));
        got.put("gate r=1 every 32", run(gate, 1.0, 32));
        got.put("gate r=0.3 every 32", run(gate, 0.3, 32));
        got.put("h2o r=1 every 32", run(Policies.create("h2o", options), 1.0, 32));
        if (RECORDED.isEmpty()) {
            got.forEach((k, v) -> System.out.println("        RECORDED.put(\"" + k + "\", \"" + v + "\");"));
            return;
        }
        assertEquals(RECORDED, got);
    }

    /** The same runs as a scorer made to read every score back at the end of the context and every interval. */
    @Test
    void gatesDecodeAsWhenEveryScoreIsReadBack() {
        Policy deferred = Policy.of(new GateScorer(gates), Budget.GLOBAL);
        Policy eager = Policy.of(readingEveryTime(new GateScorer(gates)), Budget.GLOBAL);
        for (double ratio : new double[] {1.0, 0.3})
            assertEquals(run(eager, ratio, 32), run(deferred, ratio, 32), "ratio " + ratio);
    }

    @Test
    void nothingIsReadBackUntilAnEvictionNeedsIt() {
        AtomicInteger reads = new AtomicInteger();
        Policy gate = Policy.of(new GateScorer(gates, reads::incrementAndGet), Budget.GLOBAL);
        EvictionSettings s = EvictionSettings.paper(1).withProtection(Protection.withWindow(8)).withPrefillChunk(64)
                .withDecodeInterval(32, 32);
        try (CompressedContext cc = CompressedContext.prefill(model, gate, s, context)) {
            assertEquals(0, reads.get(), "ratio 1: no score comes back during the prefill");
            cc.generate(QUERY_B, 8); // within the interval: scored on the device at most
            assertEquals(0, reads.get(), "no eviction, no read");
            Generation g = cc.generate(QUERY_A, 100);
            assertTrue(g.decodeEvictions() > 0);
            assertEquals(g.decodeEvictions(), reads.get(), "one read per decode eviction");
        }
        reads.set(0);
        try (CompressedContext cc = CompressedContext.prefill(model, gate, s.withRatio(0.5), context)) {
            int chunks = (context.length + 63) / 64;
            assertTrue(reads.get() > 0 && reads.get() <= chunks, reads + " reads: one per chunk that evicts");
        }
    }

    /**
     * The committed behaviour before scores were deferred: every score is read back when the context is done and
     * at every decode interval, evicting or not.
     */
    private static Scorer readingEveryTime(Scorer inner) {
        return new Scorer() {
            @Override
            public String name() {
                return inner.name();
            }

            @Override
            public ScoreSession start(SequenceInfo sequence) {
                ScoreSession s = inner.start(sequence);
                return new ScoreSession() {
                    private KvCache decoding; // the cache the current query's tokens are appended to

                    @Override
                    public ForwardObserver observer(KvCache cache) {
                        decoding = cache;
                        return s.observer(cache);
                    }

                    @Override
                    public boolean scoresPartialContext() {
                        return s.scoresPartialContext();
                    }

                    @Override
                    public float[][][] scores(KvCache cache, Stage stage) {
                        return s.scores(cache, stage);
                    }

                    @Override
                    public void scoreBuffered() {
                        s.scores(decoding, Stage.DECODE);
                    }

                    @Override
                    public void contextDone(KvCache cache) {
                        s.scores(cache, Stage.CONTEXT_DONE);
                        s.contextDone(cache);
                    }

                    @Override
                    public void rewindToContext() {
                        s.rewindToContext();
                    }

                    @Override
                    public void close() {
                        s.close();
                    }
                };
            }
        };
    }

    /**
     * Prefills the context in chunks of 64, then answers query A, query B and query A again on copies of the
     * compressed cache (the third must repeat the first: each query starts from the context's scores, whatever
     * the previous one read back or scored).
     */
    private static String run(Policy policy, double ratio, int interval) {
        EvictionSettings s = EvictionSettings.paper(ratio).withProtection(Protection.withWindow(8)).withPrefillChunk(64)
                .withDecodeInterval(interval, interval);
        try (CompressedContext cc = CompressedContext.prefill(model, policy, s, context)) {
            Generation a = cc.generate(QUERY_A, 300);
            Generation b = cc.generate(QUERY_B, 200);
            Generation again = cc.generate(QUERY_A, 300);
            assertArrayEquals(a.ids(), again.ids(), policy.name() + ": a query does not see the previous one");
            assertEquals(a.decodeEvictions(), again.decodeEvictions());
            return kept(cc.cache()) + " | " + describe(a) + " | " + describe(b);
        }
    }

    private static String kept(KvCache cache) {
        int hash = 1;
        long entries = 0;
        for (int l = 0; l < cache.numLayers(); l++)
            for (int h = 0; h < cache.numKvHeads(); h++) {
                int[] p = cache.positions(l, h);
                hash = 31 * hash + Arrays.hashCode(p);
                entries += p.length;
            }
        return entries + " kept " + Integer.toHexString(hash);
    }

    private static String describe(Generation g) {
        return g.ids().length + " ids " + Integer.toHexString(Arrays.hashCode(g.ids())) + ", " + g.decodeEvictions()
                + " evictions, " + g.finalBytes() + " bytes";
    }
}
