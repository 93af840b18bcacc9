package io.kvgate.cli.config;

import io.kvgate.gates.GateType;
import io.kvgate.trainer.fit.LinearFitter;
import io.kvgate.trainer.fit.SinkFitter;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code gates:} which gate families are fitted, and the solvers' settings (defaults are the trainer's).
 *
 * @param types   gate families, each fitted and exported into gates/&lt;type&gt;/ (sink, linear)
 * @param lambdas relative ridge penalties tried by the linear fit (chosen on held-out tokens); the sink gate's
 *                closed-form start uses the same fit
 * @param steps   sink gate solver steps (minibatch Adam on the probability-space least-squares objective)
 * @param batch   sink gate rows per step
 * @param lr      sink gate relative step size
 * @param objective sink gate least-squares space: probability (squared error on scores) or logit (on
 *                  logit(clip(S, ε, 1−ε)), as the linear gate)
 */
public record GatesSpec(List<String> types, List<Double> lambdas, int steps, int batch, double lr, String objective) {
    static final List<String> KEYS = List.of("types", "lambdas", "steps", "batch", "lr", "objective");
    public static final List<String> OBJECTIVES = Arrays.stream(SinkFitter.Objective.values()).map(SinkFitter.Objective::id).toList();
    public static final List<String> TYPES = Arrays.stream(GateType.values()).map(GateType::id).toList();

    static GatesSpec read(Section s) {
        SinkFitter.Options sink = SinkFitter.Options.defaults();
        List<String> types = s.choices("types", TYPES, TYPES);
        List<Double> lambdas = s.numbers("lambdas", Arrays.stream(LinearFitter.DEFAULT_LAMBDAS).boxed().toList(), Range.greaterThan(0));
        int steps = s.integer("steps", sink.steps(), Range.atLeast(0));
        int batch = s.integer("batch", sink.batch(), Range.atLeast(1));
        double lr = s.number("lr", sink.learningRate(), Range.greaterThan(0));
        String objective = s.choice("objective", sink.objective().id(), OBJECTIVES);
        return new GatesSpec(types, lambdas, steps, batch, lr, objective);
    }

    public SinkFitter.Objective sinkObjective() {
        return SinkFitter.Objective.valueOf(objective.toUpperCase(java.util.Locale.ROOT));
    }

    Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("types", types);
        m.put("lambdas", lambdas);
        m.put("steps", steps);
        m.put("batch", batch);
        m.put("lr", lr);
        m.put("objective", objective);
        return m;
    }
}
