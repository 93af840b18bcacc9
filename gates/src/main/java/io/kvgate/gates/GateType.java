package io.kvgate.gates;

import io.kvgate.models.KvgateException;

import java.util.Locale;

/** The gate families kvgate fits and exports. Their names appear in artifacts and on the command line. */
public enum GateType {
    /** Fast KVzip sink-attention gate (ALGORITHM.md §2). */
    SINK,
    /** Per-KV-head logistic gate: score = sigmoid(w_h·x + c_h). */
    LINEAR;

    /** The lower-case name used in manifests, directories and flags. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static GateType parse(String s) {
        for (GateType t : values()) if (t.id().equals(s)) return t;
        throw new KvgateException("unknown gate type '" + s + "' (expected sink or linear)");
    }
}
