package io.kvgate.cli.pipeline;

import io.kvgate.models.Checkpoint;

import java.nio.file.Path;

/** The checkpoint's fingerprint, computed once per run and shared by the stages that depend on the model. */
final class ModelFingerprint {
    private final Path dir;
    private String value;

    ModelFingerprint(Path dir) {
        this.dir = dir;
    }

    synchronized String get() {
        if (value == null) {
            try (Checkpoint c = Checkpoint.open(dir)) {
                value = c.fingerprint();
            }
        }
        return value;
    }
}
