package io.kvgate.models;

/** The kvgate version recorded in every manifest kvgate writes (features, gate artifacts) and printed by --version. */
public final class KvgateVersion {
    public static final String VERSION = "0.1.0";

    private KvgateVersion() {}
}
