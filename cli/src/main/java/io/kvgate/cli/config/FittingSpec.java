package io.kvgate.cli.config;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code fitting:} the objective and the held-out rule shared by every gate family.
 *
 * @param objective    least-squares space of the fit: logit_mse (logit of the clipped target) or prob_mse
 * @param seed         seeds every random choice (token sampling, initialisation, minibatches)
 * @param heldOutEvery every n-th collected token is held out (marked at collection, never fitted on)
 */
public record FittingSpec(String objective, long seed, int heldOutEvery) {
    static final List<String> KEYS = List.of("objective", "seed", "held_out_every");
    public static final List<String> OBJECTIVES = List.of("logit_mse", "prob_mse");

    static FittingSpec read(Section s) {
        String objective = s.choice("objective", "logit_mse", OBJECTIVES);
        int seed = s.integer("seed", 0, Range.atLeast(0));
        int every = s.integer("held_out_every", 100, Range.atLeast(2));
        return new FittingSpec(objective, seed, every);
    }

    Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("objective", objective);
        m.put("seed", seed);
        m.put("held_out_every", heldOutEvery);
        return m;
    }
}
