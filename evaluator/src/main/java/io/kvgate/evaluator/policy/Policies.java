package io.kvgate.evaluator.policy;

import io.kvgate.models.KvgateException;
import io.kvgate.objectives.KvzipScorer;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;

/**
 * Builds policies from their names: {@code full, gate, kvzip, kvzip-pooled, snapkv, h2o, streaming, random, keynorm},
 * each optionally with a budget suffix ({@code gate/per-head}, {@code kvzip/per-layer}; default global).
 */
public final class Policies {
    public static final List<String> NAMES = List.of("full", "gate", "kvzip", "kvzip-pooled", "snapkv", "h2o", "streaming", "random", "keynorm");

    /**
     * What the scorers may need.
     *
     * @param gates  the gate artifact's gates, or null (then "gate" is refused)
     * @param kvzip  the KVzip scorer for the oracle policy, or null (then "kvzip" is refused)
     * @param seed   seed of the random policy
     */
    public record Options(LayerGates gates, KvzipScorer kvzip, long seed) {}

    private Policies() {}

    /** Parses a comma-separated list; duplicates are dropped, unknown names refused. */
    public static List<Policy> parse(String csv, Options options) {
        LinkedHashSet<String> names = new LinkedHashSet<>();
        for (String s : csv.split(",")) if (!s.isBlank()) names.add(s.strip());
        if (names.isEmpty()) throw new KvgateException("--policies is empty (expected some of " + String.join(",", NAMES) + ")");
        List<Policy> out = new ArrayList<>();
        for (String n : names) out.add(create(n, options));
        return out;
    }

    public static Policy create(String spec, Options options) {
        String name = spec;
        Budget budget = Budget.GLOBAL;
        int slash = spec.indexOf('/');
        if (slash >= 0) {
            name = spec.substring(0, slash);
            budget = Budget.parse(spec.substring(slash + 1));
        }
        if (name.equals("full")) return Policy.full();
        Scorer scorer = switch (name) {
            case "gate" -> {
                if (options.gates() == null) throw new KvgateException("policy 'gate' needs a gates artifact (--gates DIR)");
                yield new GateScorer(options.gates());
            }
            case "kvzip", "kvzip-pooled" -> {
                if (options.kvzip() == null) throw new KvgateException("policy '" + name + "' needs a KVzip scorer (repeat prompt)");
                yield new KvzipOracleScorer(options.kvzip().withSuccessorPooling(name.equals("kvzip-pooled")));
            }
            case "snapkv" -> new SnapKvScorer();
            case "h2o" -> new H2oScorer();
            case "streaming" -> new StreamingScorer();
            case "random" -> new RandomScorer(options.seed());
            case "keynorm", "key-norm" -> new KeyNormScorer();
            default -> throw new KvgateException("unknown policy '" + spec + "' (expected " + String.join(", ", NAMES)
                    + ", optionally with /global, /per-layer or /per-head)");
        };
        return Policy.of(scorer, budget);
    }
}
