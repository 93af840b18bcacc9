package io.kvgate.cli.pipeline;

/** What happened to one stage in one {@code kvgate run}. */
public record StageOutcome(String stage, Status status, double seconds, String outputsDigest) {
    public enum Status {
        /** Ran from an empty output directory. */
        RAN,
        /** Continued an interrupted run with the same inputs. */
        RESUMED,
        /** Inputs and outputs unchanged since its completion record: not run. */
        SKIPPED
    }
}
