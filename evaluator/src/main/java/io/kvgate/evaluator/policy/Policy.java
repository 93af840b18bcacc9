package io.kvgate.evaluator.policy;

/**
 * An eviction policy: a {@link Scorer} (which pairs matter) plus a {@link Budget} (how the kept share is
 * spread over layers and heads). The runtime treats every policy the same way; {@link #full()} is the one
 * that never evicts (no scorer).
 *
 * @param name   name in reports
 * @param scorer null for the full cache
 * @param budget where the ratio applies
 */
public record Policy(String name, Scorer scorer, Budget budget) {
    public static Policy full() {
        return new Policy("full", null, Budget.GLOBAL);
    }

    public static Policy of(Scorer scorer, Budget budget) {
        return new Policy(budget == Budget.GLOBAL ? scorer.name() : scorer.name() + "/" + budget.id(), scorer, budget);
    }

    public boolean evicts() {
        return scorer != null;
    }

    public Policy withName(String newName) {
        return new Policy(newName, scorer, budget);
    }
}
