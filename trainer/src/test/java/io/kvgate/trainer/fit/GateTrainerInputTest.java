package io.kvgate.trainer.fit;

import io.kvgate.datasets.FeatureBatch;
import io.kvgate.gates.GateType;
import io.kvgate.gates.SinkGate;
import io.kvgate.models.KvgateException;
import io.kvgate.models.util.Progress;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.EnumSet;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Determinism and bad input of the fitting entry point. */
class GateTrainerInputTest {
    static final SinkGate.Dims DIMS = SinkGate.Dims.standard(16, 2, 2);

    @BeforeAll
    static void quiet() {
        Progress.setEnabled(false);
    }

    static GateTrainer.Options quick(int threads) {
        GateTrainer.Options d = GateTrainer.Options.defaults(EnumSet.allOf(GateType.class));
        return new GateTrainer.Options(d.types(), d.lambdas(), d.epsilon(), new SinkFitter.Options(60, 64, 0.02, 7, d.epsilon(), SinkFitter.Objective.PROBABILITY), 2000, threads, d.device());
    }

    @Test
    void fittingIsDeterministicWhateverTheThreadCount() {
        InMemoryTrainingRows src = Synthetic.source(Synthetic.sinkTeacher(DIMS, 1), new int[] {0, 1, 2}, 3000, DIMS.group(), 4);
        Map<GateType, GateTrainer.Fitted> a = GateTrainer.train(src, quick(1)), b = GateTrainer.train(src, quick(2));
        for (GateType t : GateType.values())
            for (int layer : new int[] {0, 1, 2}) {
                var ta = a.get(t).gates().gate(layer).tensors();
                var tb = b.get(t).gates().gate(layer).tensors();
                for (String name : ta.keySet()) assertArrayEquals(ta.get(name).data(), tb.get(name).data(), t + " layer " + layer + " " + name);
            }
        assertEquals(a.get(GateType.SINK).overall(), b.get(GateType.SINK).overall());
    }

    @Test
    void nonFiniteHiddenStateNamesLayerAndRow() {
        InMemoryTrainingRows src = Synthetic.source(Synthetic.sinkTeacher(DIMS, 1), new int[] {0, 1}, 3000, DIMS.group(), 4);
        List<FeatureBatch> bad = corrupt(src, 1, 2, 5, Float.NaN, true);
        InMemoryTrainingRows broken = rebuild(src, bad, 1);
        KvgateException e = assertThrows(KvgateException.class, () -> GateTrainer.train(broken, quick(1)));
        assertTrue(e.getMessage().contains("layer 1, row 2005") && e.getMessage().contains("NaN"), e.getMessage());

        InMemoryTrainingRows inf = rebuild(src, corrupt(src, 0, 0, 3, Float.POSITIVE_INFINITY, false), 0);
        e = assertThrows(KvgateException.class, () -> GateTrainer.train(inf, quick(1)));
        assertTrue(e.getMessage().contains("layer 0, row 3") && e.getMessage().contains("Infinity"), e.getMessage());
    }

    @Test
    void tooFewRowsForTheHiddenSize() {
        InMemoryTrainingRows src = Synthetic.source(Synthetic.sinkTeacher(DIMS, 1), new int[] {0}, 15, DIMS.group(), 4);
        KvgateException e = assertThrows(KvgateException.class, () -> GateTrainer.train(src, quick(1)));
        assertTrue(e.getMessage().contains("13 training rows for hidden size 16"), e.getMessage());
    }

    @Test
    void batchesOfAnotherShapeAreRefused() {
        InMemoryTrainingRows src = new InMemoryTrainingRows("fp", "qwen3", 16, 2, 2);
        src.add(new FeatureBatch(0, 1, 8, 2, new float[8], new float[2], new boolean[1]));
        KvgateException e = assertThrows(KvgateException.class, () -> GateTrainer.train(src, quick(1)));
        assertTrue(e.getMessage().contains("shards of another model"), e.getMessage());
    }

    /** Copy of one layer's batches with one value replaced (in x, or in the target). */
    static List<FeatureBatch> corrupt(InMemoryTrainingRows src, int layer, int batchIndex, int row, float value, boolean inX) {
        List<FeatureBatch> out = new java.util.ArrayList<>();
        src.forEachBatch(layer, b -> {
            if (out.size() == batchIndex) {
                float[] x = b.x().clone(), t = b.target().clone();
                if (inX) x[row * b.hidden() + 1] = value;
                else t[row * b.kvHeads()] = value;
                out.add(new FeatureBatch(b.layer(), b.rows(), b.hidden(), b.kvHeads(), x, t, b.heldOut()));
            } else out.add(b);
        });
        return out;
    }

    static InMemoryTrainingRows rebuild(InMemoryTrainingRows src, List<FeatureBatch> replaced, int layer) {
        InMemoryTrainingRows s = new InMemoryTrainingRows(src.modelFingerprint(), src.modelType(), src.hiddenSize(), src.kvHeads(), src.groupSize());
        for (int l : src.gatedLayers()) {
            if (l == layer) replaced.forEach(s::add);
            else src.forEachBatch(l, s::add);
        }
        return s;
    }
}
