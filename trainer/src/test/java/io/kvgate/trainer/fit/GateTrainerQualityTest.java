package io.kvgate.trainer.fit;

import io.kvgate.gates.GateMetrics;
import io.kvgate.gates.GateType;
import io.kvgate.gates.SinkGate;
import io.kvgate.models.util.Progress;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.EnumSet;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** On data made by a known teacher gate, both families fit well and the family of the teacher wins. */
class GateTrainerQualityTest {
    static final SinkGate.Dims DIMS = SinkGate.Dims.standard(32, 2, 2);

    @BeforeAll
    static void quiet() {
        Progress.setEnabled(false);
    }

    static Map<GateType, GateTrainer.Fitted> fit(InMemoryTrainingRows src) {
        return GateTrainer.train(src, GateTrainer.Options.defaults(EnumSet.allOf(GateType.class)));
    }

    static void print(String name, Map<GateType, GateTrainer.Fitted> f) {
        for (GateTrainer.Fitted x : f.values()) {
            GateMetrics m = x.overall();
            System.out.printf("%s %-6s mse=%.5f bce=%.4f agree=%.4f (constant gate %.4f) rho=%.4f %s%n", name, x.type().id(), m.mse(), m.bce(),
                    m.agreement(), m.constantAgreement(), m.spearman(), x.details());
        }
    }

    @Test
    void sinkTeacherIsLearnedAndSinkWins() {
        InMemoryTrainingRows src = Synthetic.source(Synthetic.sinkTeacher(DIMS, 5), new int[] {0, 1}, 20_000, DIMS.group(), 1);
        Map<GateType, GateTrainer.Fitted> f = fit(src);
        print("sink-teacher", f);
        GateMetrics sink = f.get(GateType.SINK).overall(), lin = f.get(GateType.LINEAR).overall();
        assertTrue(sink.agreement() >= 0.90, "sink agreement " + sink.agreement());
        // ≥ 90 % must come from what the gate learned, not from the targets' base rate
        assertTrue(sink.agreement() >= sink.constantAgreement() + 0.1, "sink agreement " + sink.agreement() + " vs a per-head constant " + sink.constantAgreement());
        assertTrue(sink.mse() < lin.mse(), "sink mse " + sink.mse() + " vs linear " + lin.mse());
        assertTrue(sink.spearman() > lin.spearman(), "sink rho " + sink.spearman() + " vs linear " + lin.spearman());
    }

    @Test
    void linearTeacherIsLearnedAndLinearWins() {
        InMemoryTrainingRows src = Synthetic.source(Synthetic.linearTeacher(DIMS.hidden(), DIMS.kvHeads(), 6,
                Synthetic.hiddenStates(new java.util.Random(2 * 31), 2000, DIMS.hidden())), new int[] {0, 1}, 20_000, DIMS.group(), 2);
        Map<GateType, GateTrainer.Fitted> f = fit(src);
        print("linear-teacher", f);
        GateMetrics sink = f.get(GateType.SINK).overall(), lin = f.get(GateType.LINEAR).overall();
        assertTrue(lin.agreement() >= 0.98, "linear agreement " + lin.agreement());
        assertTrue(lin.agreement() >= lin.constantAgreement() + 0.1, "linear agreement " + lin.agreement() + " vs a per-head constant " + lin.constantAgreement());
        assertTrue(sink.agreement() >= 0.90, "sink agreement " + sink.agreement());
        assertTrue(lin.mse() <= sink.mse(), "linear mse " + lin.mse() + " vs sink " + sink.mse());
    }
}
