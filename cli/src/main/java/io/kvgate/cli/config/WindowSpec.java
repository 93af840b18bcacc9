package io.kvgate.cli.config;

import org.yaml.snakeyaml.nodes.ScalarNode;

/**
 * The local window that is never evicted during prefill: a token count ({@code window: 4096}), a share of
 * the context ({@code window: 2%}), or {@code window: paper}: 2 % of the context below 16K tokens, else 4096.
 */
public record WindowSpec(int tokens, double fraction, boolean paper) {
    public static final String PAPER = "paper";
    static final int PAPER_TOKENS = 4096;
    static final int PAPER_SHORT_CONTEXT = 16384;
    static final double PAPER_SHARE = 0.02;

    static WindowSpec read(Section s, String key, WindowSpec def) {
        ScalarNode n = s.scalar(key);
        if (n == null) return def;
        String text = n.getValue().strip();
        if (text.equals(PAPER)) return new WindowSpec(PAPER_TOKENS, PAPER_SHARE, true);
        try {
            if (text.endsWith("%")) {
                double pct = Double.parseDouble(text.substring(0, text.length() - 1).strip());
                if (!(pct >= 0 && pct < 100)) throw s.fail(key, text + " is out of range, expected a share in [0%, 100%)");
                return new WindowSpec(0, pct / 100, false);
            }
            int tokens = Integer.parseInt(text);
            if (tokens < 0) throw s.fail(key, text + " is out of range, expected >= 0 tokens");
            return new WindowSpec(tokens, 0, false);
        } catch (NumberFormatException e) {
            throw s.fail(key, "expected a token count (4096) or a share of the context (2%) or paper, got '" + text + "'");
        }
    }

    /** Window in tokens for a context of {@code n} tokens. */
    public int tokensFor(int n) {
        if (paper) return n < PAPER_SHORT_CONTEXT ? (int) Math.round(PAPER_SHARE * n) : PAPER_TOKENS;
        return fraction > 0 ? (int) Math.round(fraction * n) : tokens;
    }

    @Override
    public String toString() {
        if (paper) return PAPER;
        return fraction > 0 ? trim(fraction * 100) + "%" : Integer.toString(tokens);
    }

    private static String trim(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }
}
