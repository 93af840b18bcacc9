package io.kvgate.cli.config;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code fitting:} what makes a fit reproducible and honest.
 *
 * @param seed         seeds every random choice (token sampling, initialisation, minibatches)
 * @param heldOutEvery every n-th collected token is held out: marked at collection, never fitted on, used for metrics
 */
public record FittingSpec(long seed, int heldOutEvery) {
    static final List<String> KEYS = List.of("seed", "held_out_every");

    static FittingSpec read(Section s) {
        int seed = s.integer("seed", 0, Range.atLeast(0));
        int every = s.integer("held_out_every", 100, Range.atLeast(2));
        return new FittingSpec(seed, every);
    }

    Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("seed", seed);
        m.put("held_out_every", heldOutEvery);
        return m;
    }
}
