package io.kvgate.evaluator.policy;

/**
 * How important each cached KV pair is (kvpress: the "which" half of a policy; {@link Budget} is the "how
 * many"). A scorer is stateless and shareable; everything it learns about one sequence lives in the
 * {@link ScoreSession} it starts for that sequence. Higher scores are kept.
 */
public interface Scorer {
    /** Short name used in reports (e.g. "gate", "snapkv"). */
    String name();

    /** Starts scoring one sequence whose context is {@code sequence.contextIds()}. */
    ScoreSession start(SequenceInfo sequence);
}
