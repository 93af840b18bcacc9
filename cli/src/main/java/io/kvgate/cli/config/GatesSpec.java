package io.kvgate.cli.config;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code gates:} which gate families are fitted, and their hyper-parameters.
 *
 * @param types   gate families, each fitted and exported into gates/&lt;type&gt;/ (sink, linear)
 * @param dPrime  sink gate query/key width d′ (paper: 16)
 * @param sinks   learned sink keys per KV head S (paper: 16)
 * @param lambdas ridge penalties tried for the linear gate (chosen on held-out tokens)
 * @param steps   iterative-solver steps for the sink gate
 * @param lr      sink gate step size
 */
public record GatesSpec(List<String> types, int dPrime, int sinks, List<Double> lambdas, int steps, double lr) {
    static final List<String> KEYS = List.of("types", "d_prime", "sinks", "lambdas", "steps", "lr");
    public static final List<String> TYPES = List.of("sink", "linear");

    static GatesSpec read(Section s) {
        List<String> types = s.choices("types", TYPES, TYPES);
        int dPrime = s.integer("d_prime", 16, Range.atLeast(1));
        int sinks = s.integer("sinks", 16, Range.atLeast(1));
        List<Double> lambdas = s.numbers("lambdas", List.of(1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0), Range.greaterThan(0));
        int steps = s.integer("steps", 300, Range.atLeast(0));
        double lr = s.number("lr", 0.05, Range.greaterThan(0));
        return new GatesSpec(types, dPrime, sinks, lambdas, steps, lr);
    }

    Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("types", types);
        m.put("d_prime", dPrime);
        m.put("sinks", sinks);
        m.put("lambdas", lambdas);
        m.put("steps", steps);
        m.put("lr", lr);
        return m;
    }
}
