package io.kvgate.cli.config;

import io.kvgate.evaluator.policy.Protection;
import org.yaml.snakeyaml.nodes.ScalarNode;

/**
 * The local window never evicted during prefill: a token count ({@code window: 16}) or {@code window: paper},
 * the paper's rule (2 % of the context below 16K tokens, else 4096).
 *
 * @param tokens fixed window in tokens; ignored when {@code paper}
 * @param paper  the paper's rule
 */
public record WindowSpec(int tokens, boolean paper) {
    public static final String PAPER = "paper";
    public static final WindowSpec PAPER_RULE = new WindowSpec(0, true);

    static WindowSpec read(Section s, String key, WindowSpec def) {
        ScalarNode n = s.scalar(key);
        if (n == null) return def;
        String text = n.getValue().strip();
        if (text.equals(PAPER)) return PAPER_RULE;
        int tokens;
        try {
            tokens = Integer.parseInt(text);
        } catch (NumberFormatException e) {
            throw s.fail(key, "expected a number of tokens or 'paper' (2% of the context below 16K tokens, else 4096), got '" + text + "'");
        }
        if (tokens < 0) throw s.fail(key, text + " is out of range, expected >= 0 tokens");
        return new WindowSpec(tokens, false);
    }

    /** The evaluator's protection rule: 4 sink tokens plus this window. */
    public Protection protection() {
        return paper ? Protection.paper() : Protection.withWindow(tokens);
    }

    /** Window in tokens for a context of {@code n} tokens. */
    public int tokensFor(int n) {
        return protection().windowFor(n);
    }

    @Override
    public String toString() {
        return paper ? PAPER : Integer.toString(tokens);
    }
}
